"""What the control plane and the edge share: config model helpers, errors, logging, telemetry.

Nothing here does I/O at import time or depends on ``edgeway.controlplane`` or on the edge's
data path, so both sides (and the control plane's use of the edge compile step) can import it.
"""
