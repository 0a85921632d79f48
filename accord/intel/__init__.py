"""Intelligence: a STIX 2.1 store with TAXII 2.1 semantics, markings, sharing, import/export.

The public API (see docs/intel.md):

* :class:`IntelStore` (``store_for(node)`` for a node's), :class:`Collection`, :class:`Filters`;
* :class:`AccordLabel`, :data:`TLP2_IDS`, :func:`tlp_marking_definition`,
  :func:`effective_marking`, :func:`to_acs30`, :func:`misp_distribution`;
* :func:`check_object` (structural) and :func:`validate_full`;
* :func:`import_bundle`, :func:`export_bundle`; :func:`share_stored`, :func:`sync_received`.

The TAXII HTTP binding is :mod:`accord.api.taxii`; this package imports no web framework.
"""

from accord.intel.import_export import export_bundle, import_bundle
from accord.intel.markings import (
    ACCORD_EXTENSION_ID,
    TLP2_EXTENSION_ID,
    TLP2_IDS,
    AccordLabel,
    effective_marking,
    misp_distribution,
    tlp_marking_definition,
    to_acs30,
)
from accord.intel.node_store import store_for
from accord.intel.sharing import share_stored, sync_received
from accord.intel.store import Collection, Filters, IntelStore
from accord.intel.validate import check_object, validate_full

__all__ = [
    "ACCORD_EXTENSION_ID", "TLP2_EXTENSION_ID", "TLP2_IDS", "AccordLabel", "Collection", "Filters",
    "IntelStore", "check_object", "effective_marking", "export_bundle", "import_bundle",
    "misp_distribution", "share_stored", "store_for", "sync_received", "tlp_marking_definition",
    "to_acs30", "validate_full",
]
