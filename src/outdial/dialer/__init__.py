"""The dialer: claims due calls, paces them through their trunks and records every attempt."""
