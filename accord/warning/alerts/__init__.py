"""Civil-defence alerts: CAP 1.2 warnings from impact predictions, with offline geography.

Public API::

    from accord.warning.alerts import AlertEngine, AlertRules, Geography
    geo = Geography.load()                       # packaged, offline
    rules = AlertRules(party="JPN")              # or AlertRules.from_yaml("node.yaml")
    engine = AlertEngine(rules, geo, sender="accord.jpn.example", status="Exercise")
    msgs = engine.on_prediction(prediction, now_t) + engine.on_time(later_t)
    msgs[0].xml          # CAP 1.2 bytes, valid against the vendored OASIS schema
    msgs[0].to_item()    # an accord Item of kind "warning.alert"
"""

from accord.warning.alerts.cap import CapMessage, validate
from accord.warning.alerts.engine import DEFAULT_EPOCH, AlertEngine
from accord.warning.alerts.geography import AdminArea, Geography
from accord.warning.alerts.rules import AlertRules, Assessment, assess, impact_ellipse

__all__ = ["AdminArea", "AlertEngine", "AlertRules", "Assessment", "CapMessage", "DEFAULT_EPOCH",
           "Geography", "assess", "impact_ellipse", "validate"]
