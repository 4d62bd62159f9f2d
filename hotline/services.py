"""The services the composition root provides to every feature (``Wiring.need``)."""

from __future__ import annotations

from hotline.outbound import OutboundPolicy
from hotline.wiring import Key

# What may be dialled outside the PBX, for every feature that places a leg there.
OUTBOUND = Key[OutboundPolicy]("outbound")
