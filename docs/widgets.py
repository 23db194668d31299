def widget_views(): return {}
