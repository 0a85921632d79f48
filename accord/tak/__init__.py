"""TAK interop: Accord's picture as Cursor on Target (CoT) events, and CoT reports in.

``types`` (CoT type codes and MIL-STD-2525 SIDCs), ``cot`` (building and parsing CoT 2.0
events), ``picture`` (track, prediction and alert items → events), ``client`` (the TCP/TLS
connection to a TAK server), ``replay`` (``accord tak send``), ``destination`` (a node's standing
TAK destinations: policy, sending, ledgering, reports in). See docs/tak.md.
"""
