# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entry point: ``python -m ansible_collections.dockerhost.azure.azure_emulator start|stop|serve``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
