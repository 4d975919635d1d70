"""The check protocol the pyVmomi scripts share with pyvmomi_test.go: each
check prints "ok NAME" or "FAIL NAME :: why"; done() prints "DONE" and
exits 1 if any check failed."""
import sys
import traceback

_failures = 0


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def check(name):
    """Run the decorated function now as the check NAME and report it."""
    def wrap(fn):
        global _failures
        try:
            fn()
            out("ok " + name)
        except Exception as e:  # noqa: BLE001 - report every failure
            _failures += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " | ")
            out("FAIL %s :: %s" % (name, detail))
        return fn
    return wrap


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def raises(fault_type, fn, *args, **kwargs):
    """Call fn and return the fault_type it raises; anything else fails."""
    try:
        fn(*args, **kwargs)
    except fault_type as e:
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError("want %s, got %s: %s" % (fault_type.__name__, type(e).__name__, e))
    raise AssertionError("want %s, got success" % fault_type.__name__)


def done():
    out("DONE")
    sys.exit(1 if _failures else 0)
