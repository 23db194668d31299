"""heta: Hessian-Enhanced Token Attribution for decoder-only language models.

The modules are generated from the notebooks in nbs/ by nbdev; this file only re-exports the main
names lazily, so `import heta` stays fast and imports torch only when a model is needed.
"""
__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "heta.models", "Arch": "heta.models", "register_adapter": "heta.models", "unwrap_model": "heta.models",
    "Target": "heta.targets", "make_target": "heta.targets", "greedy_target": "heta.targets",
    "semantic_flow": "heta.flow", "hessian_sensitivity": "heta.curvature",
    "kl_information": "heta.information", "mask_token_id": "heta.information",
    "HETA": "heta.attribution", "Attribution": "heta.explainers", "Explainer": "heta.explainers",
    "combine": "heta.attribution", "PRESETS": "heta.attribution",
    "Explorer": "heta.viz", "html_heatmap": "heta.viz", "attribution_html": "heta.viz", "svg_heatmap": "heta.viz",
    "plot_components": "heta.viz", "plot_generation": "heta.viz", "plot_methods": "heta.viz",
    "make_explainer": "heta.baselines", "BASELINES": "heta.baselines", "EXPLAINERS": "heta.baselines",
    "heta_ablations": "heta.attribution", "faithfulness": "heta.metrics", "soft_scores": "heta.metrics",
    "generate_curated": "heta.data", "METRICS": "heta.metrics", "DATASETS": "heta.data",
}

def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'heta' has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + list(_EXPORTS))
