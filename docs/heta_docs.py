"""A Sphinx extension for heta's API pages: nbdev's parameter comments (fastcore `docments`) as a parameter list.

heta documents parameters the nbdev way, as a comment after each one (`k:int=8, # rows in the top-k table`).
Python keeps no such comments, so autodoc would drop them; `docments_lines` reads them back from the source
and `process_docstring` appends them to the docstring as `:param:` fields, which Sphinx lays out as the
"Parameters" list of the function, method or class."""
import inspect


def docments_lines(obj) -> list:
    "`:param name: comment` (and `:returns: comment`) lines for the parameter comments of `obj`, or []."
    from fastcore.docments import docments
    target = obj.__init__ if inspect.isclass(obj) else obj
    if not callable(target): return []
    try: d = docments(target, full=True)
    except (TypeError, ValueError, OSError, SyntaxError, IndentationError): return []   # builtins, C code, no source
    lines = []
    for name, info in d.items():
        text = (info.get("docment") or "").strip() if isinstance(info, dict) else ""
        if not text or name == "self": continue
        if name == "return": lines.append(f":returns: {text}")
        else: lines.append(f":param {name.lstrip('*')}: {text}")
    return lines


def plain_bars(line:str) -> str:
    "heta's docstrings are plain text, where `|x|` is an absolute value, not an RST substitution: escape the bars."
    return line if line.lstrip().startswith(("|", "+-")) else line.replace("|", "\\|")


def process_docstring(app, what, name, obj, options, lines):
    "autodoc-process-docstring: plain `|` bars, and the docments of functions, methods and classes that have any."
    lines[:] = [plain_bars(l) for l in lines]
    if what not in ("function", "method", "class"): return
    extra = [plain_bars(l) for l in docments_lines(obj)]
    have = "\n".join(lines)
    extra = [l for l in extra if f":{l.split(':')[1]}:" not in have]   # a docstring's own :param: fields win
    if extra:
        if lines and lines[-1].strip(): lines.append("")
        lines.extend(extra)


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
