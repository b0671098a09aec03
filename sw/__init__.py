"""Host software: compiler, Program format, golden model, reports and the `spikeloom` CLI."""
