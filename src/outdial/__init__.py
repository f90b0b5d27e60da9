"""outdial: outbound phone calls handled by AI voice agents, over your own SIP trunk."""

__version__ = "0.1.0"
