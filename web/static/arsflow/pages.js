// Each table cell carries its column's header as data-label, shown above the value when a
// narrow screen turns rows into cards (arsflow.css). Headers stay the source of truth.
document.querySelectorAll(".fr-table table").forEach(function (table) {
  var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
    return th.textContent.trim();
  });
  table.querySelectorAll("tbody tr").forEach(function (row) {
    var column = 0;
    Array.prototype.forEach.call(row.children, function (cell) {
      if (!cell.hasAttribute("data-label") && headers[column] && cell.colSpan === 1) {
        cell.setAttribute("data-label", headers[column]);
      }
      column += cell.colSpan || 1;
    });
  });
});

// After a refused submit the error summary takes the focus, so a screen reader announces it
// and a keyboard user starts from its links to the fields.
(function () {
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }
})();
