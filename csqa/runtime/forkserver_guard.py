"""Imported by the output stage's fork server only (a preload module of `csqa.outputs.jobs`):
it arms `die_with_parent`, so the fork server — and through it the jobs it forked — ends when
the main process does. Do not import it anywhere else: the importing process would die with
its parent."""
from csqa.runtime.lifeline import die_with_parent

die_with_parent(thread=False)  # (it also leaves when the main process's end of its pipe closes)
