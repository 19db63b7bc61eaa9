"""What every benchmark entry point does first: make this process look like the functions' Lambda."""

from __future__ import annotations

import os
import sys

from local.template import Template


def setup_template() -> Template:
    """template.yaml, with its functions' settings in os.environ (Powertools reads them when the handler
    modules are imported; what the shell has set wins) and its layer and function folders on sys.path."""
    template = Template()
    for function in template.functions():
        for name, value in function.environment.items():
            if isinstance(value, str):
                os.environ.setdefault(name, value)
    for folder in [*template.layer_dirs(), *(f.code_dir for f in template.functions())]:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return template
