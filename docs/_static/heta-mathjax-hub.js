/* ipywidgets' HTML manager typesets widget labels through MathJax 2's `MathJax.Hub.Queue`; this site loads MathJax 3,
   which has no Hub. Whatever window.MathJax holds (the configuration first, then MathJax 3 itself once it starts)
   gets a hidden `Hub` whose Queue typesets the element the MathJax 3 way. */
(function () {
  var hub = {Queue: function (job) {
    var el = job && job[2], mj = window.MathJax;
    if (el && mj && mj.typesetPromise) mj.startup.promise.then(function () { return mj.typesetPromise([el]); });
  }};
  var current = window.MathJax;
  Object.defineProperty(window, "MathJax", {configurable: true,
    get: function () { return current; },
    set: function (v) {
      current = v;
      if (v && typeof v === "object" && !v.Hub) {
        try { Object.defineProperty(v, "Hub", {value: hub, enumerable: false, configurable: true}); } catch (e) {}
      }
    }});
  window.MathJax = current;
})();
