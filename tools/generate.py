#!/usr/bin/env python
"""ENG for any ddpnas run directory: `python tools/generate.py RUN_DIR [space-specific budget flags]`.

The same as the `ddpnas-generate` command that ddp-core installs: RUN_DIR/space.json's metadata.kind selects
one of the generators that installed packages register (entry-point group `ddpnas.generators`); this script
hands it the remaining arguments. `--help` after RUN_DIR lists them.
"""

from __future__ import annotations

import sys

from ddp_core.generators import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
