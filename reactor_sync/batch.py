"""Render many prompts on Dask, one Reactor session per prompt: ``render``, ``render_one`` and their types.

A public namespace of its own because batch rendering is an application of
the client (it needs Dask), not part of it. The code lives in
:mod:`reactor_sync._apps.batch`.
"""

from ._apps.batch import BatchSummary, RenderResult, RenderTask, output_name, render, render_one

__all__ = ["BatchSummary", "RenderResult", "RenderTask", "output_name", "render", "render_one"]
