// Mark each wide table, formula and figure that scrolls sideways inside its own box, so that
// dropspec.css can say so above it (.ds-overflows); again whenever the window changes width.
(() => {
  const mark = () => {
    for (const box of document.querySelectorAll(".table-wrapper, div.math, figure")) {
      box.classList.toggle("ds-overflows", box.scrollWidth > box.clientWidth + 1);
    }
  };
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
})();
