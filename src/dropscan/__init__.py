"""dropscan: find download-and-execute attacks in Apache access logs, and the egress they need."""

from .api import destinations_frame, egress_report, read_findings, report_frames, scan, scan_frame
from .detect.egress import Destination
from .detect.findings import Finding
from .errors import DropscanError, IncompleteScanWarning, InputError, UsageError

__version__ = "0.1.0"
__all__ = [
    "Destination",
    "DropscanError",
    "Finding",
    "IncompleteScanWarning",
    "InputError",
    "UsageError",
    "__version__",
    "destinations_frame",
    "egress_report",
    "read_findings",
    "report_frames",
    "scan",
    "scan_frame",
]
