"""Session set-up shared by every test.

Several tests stop a run with SIGINT, as Ctrl-C at a terminal does. A shell without job control
(a CI script, `cmd &` in a script) starts its background commands with SIGINT ignored, and
Python then leaves it ignored instead of raising KeyboardInterrupt. Restore Python's handler, so
that this process and the processes it starts (which inherit only an ignored signal) see what a
user at a terminal sees.
"""

import signal

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
