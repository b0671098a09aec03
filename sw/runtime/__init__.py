"""The host runtime: the link's codec and session, the Device, transports. Imports no torch."""
