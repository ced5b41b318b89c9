"""Playbook tasks of the collection's modules, for the tests."""


def task(module, title=None, ignore_errors=False, check_mode=None, **args):
    """A task calling kmetal.platform.MODULE with ARGS (the module's own `name` option goes in ARGS)."""
    entry = {"name": title or module, "kmetal.platform.%s" % module: args}
    if ignore_errors:
        entry["ignore_errors"] = True
    if check_mode is not None:
        entry["check_mode"] = check_mode
    return entry
