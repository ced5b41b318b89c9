"""Playbook tasks of the collection's modules, for the tests."""


def task(module, title=None, ignore_errors=False, check_mode=None, **args):
    """A task calling kmetal.platform.MODULE with ARGS (the module's own `name` option goes in ARGS)."""
    entry = {"name": title or module, "kmetal.platform.%s" % module: args}
    if ignore_errors:
        entry["ignore_errors"] = True
    if check_mode is not None:
        entry["check_mode"] = check_mode
    return entry


def bad_input(play, module, cases, **fixed):
    """Run MODULE once per case of CASES ([(args, expected words)]) in one playbook, the cases in parallel on local
    hosts of their own. Returns (results in the order of CASES, the Play)."""
    keys = sorted({key for args, _ in cases for key in args} | set(fixed))
    hosts = {"case%02d" % i: {"bad": dict(fixed, **args)} for i, (args, _) in enumerate(cases)}
    args = {key: "{{ bad[%r] | default(omit) }}" % key for key in keys}
    run = play([{"name": module, "kmetal.platform.%s" % module: args, "ignore_errors": True}], hosts=hosts)
    return [run.results[0]["case%02d" % i] for i in range(len(cases))], run
