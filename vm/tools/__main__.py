"""``python -m vm.tools``: the same as ``pyvm-tools``."""

from vm.tools import script

script()
