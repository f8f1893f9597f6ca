"""Where a BSB run spends its time writing results, measured on the result class itself.

`instrument(cls)` wraps the result class's constructor, `flush` and `finalize`, and each
recorder's flush callback (the device's own work: reading the simulator, building Neo
objects). Writing results is then everything the result object does itself: the
constructor's write, `flush` less the callbacks, and `finalize` (BSB: Neo writes of the
rank parts and rank 0's merge; ours: the conversion into native buffers and the one
collective write).
"""
import functools
import time

SECONDS = {"construct": 0.0, "flush": 0.0, "callbacks": 0.0, "finalize": 0.0}


def _timed(key, method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            SECONDS[key] += time.perf_counter() - start

    return wrapper


def _timed_flush(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        for recorder in self.recorders:
            if not getattr(recorder.flush, "_timed", False):
                recorder.flush = _timed("callbacks", recorder.flush)
                recorder.flush._timed = True
        return _timed("flush", method)(self, *args, **kwargs)

    return wrapper


def instrument(cls):
    """Times every instance of `cls` (and its subclasses) from now on."""
    cls.__init__ = _timed("construct", cls.__init__)
    cls.flush = _timed_flush(cls.flush)
    cls.finalize = _timed("finalize", cls.finalize)


def summary():
    """This process's seconds, with `writing` = construct + flush - callbacks + finalize."""
    s = dict(SECONDS)
    s["writing"] = s["construct"] + s["flush"] - s["callbacks"] + s["finalize"]
    return s
