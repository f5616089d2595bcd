// Turns <div data-survey-url="https://.../s/TOKEN"></div> into an auto-resizing iframe.
(function () {
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : null;
  function mount(el) {
    if (el.dataset.surveyMounted) return;
    var src = new URL(el.getAttribute("data-survey-url"), origin || location.href);
    if (origin && src.origin !== origin) return;
    var frame = document.createElement("iframe");
    frame.src = src.href;
    frame.title = el.getAttribute("data-survey-title") || "Satisfaction survey";
    frame.style.cssText = "width:100%;border:0;min-height:480px;display:block";
    frame.setAttribute("loading", "lazy");
    el.dataset.surveyMounted = "1";
    el.appendChild(frame);
    window.addEventListener("message", function (e) {
      if (e.source !== frame.contentWindow || e.origin !== src.origin) return;
      if (e.data && e.data.type === "survey:height" && e.data.height > 0) {
        frame.style.height = Math.ceil(e.data.height) + "px";
        frame.style.minHeight = "0";
      }
    });
  }
  function init() { document.querySelectorAll("[data-survey-url]").forEach(mount); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
