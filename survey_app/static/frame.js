// Inside a portal's iframe, tell the embedding page our height so it can fit us.
(function () {
  if (window.parent === window) return;
  var last = 0;
  function send() {
    var h = Math.ceil(document.body.getBoundingClientRect().height);
    if (h !== last) { last = h; window.parent.postMessage({ type: "survey:height", height: h }, "*"); }
  }
  window.addEventListener("load", send);
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.body);
  else setInterval(send, 500);
})();
