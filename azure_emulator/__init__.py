# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local Azure emulator (ARM + Azure AD + cloud metadata) whose VMs run real Docker daemons.

Test code only: it never imports the collection's ``plugins/``, and the collection never imports it.
See README.md in this directory.
"""
