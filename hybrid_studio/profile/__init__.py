"""Measured cost (per-block time and memory on a device), int8 quantisation and their reports. No Qt; torch is
imported only when a function runs (``engine``, ``quantize``); ``cli`` imports only the standard library."""
