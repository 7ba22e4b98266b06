"""The linker (``pyld``): ELF32 objects and archives -> a static i386 executable.

``asm.link`` is both this package and the API function (asm/api.py :func:`link`): the
package is callable, so ``asm.link([...])`` works whether or not a submodule such as
``asm.link.linker`` was imported first (which would rebind ``asm.link`` to the package).
"""

from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, inputs, **options):
        from asm.api import link
        return link(inputs, **options)


sys.modules[__name__].__class__ = _CallableModule
