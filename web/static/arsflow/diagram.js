/* Draws the BPMN diagrams of the page with the vendored bpmn-js NavigatedViewer.
 *
 * A container `.arsflow-diagram` gives either `data-diagram-url` (JSON: xml, active,
 * completed) or `data-xml` (an uploaded file), and optionally `data-errors` /
 * `data-warnings` (element ids the linter reported). The import outcome is exposed as
 * `window.arsflowDiagramImport` ({warnings, error}) for the first diagram of the page and
 * `window.arsflowDiagramImports[id]` for each, so browser tests can check it.
 */
(function () {
  'use strict';

  window.arsflowDiagramImports = window.arsflowDiagramImports || {};

  function ids(text) {
    return (text || '').split(/\s+/).filter(Boolean);
  }

  function report(container, outcome, first) {
    window.arsflowDiagramImports[container.id] = outcome;
    if (first) {
      window.arsflowDiagramImport = outcome;
    }
    container.setAttribute('data-import-state', outcome.error ? 'error' : 'ok');
  }

  function message(container, text, kind) {
    var p = document.createElement('p');
    p.className = 'fr-text--sm arsflow-diagram__message arsflow-diagram__message--' + kind;
    p.textContent = text;
    container.appendChild(p);
  }

  function mark(viewer, elementIds, cssClass) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    elementIds.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, cssClass);
      }
    });
  }

  function draw(container, xml, markers, first) {
    var loading = container.querySelector('.arsflow-diagram__loading');
    if (loading) { loading.remove(); }
    if (typeof window.BpmnJS !== 'function') {
      report(container, { warnings: [], error: 'bpmn-js indisponible' }, first);
      message(container, 'Le visualiseur de schémas n\'a pas pu être chargé.', 'error');
      return Promise.resolve();
    }
    var viewer = new window.BpmnJS({ container: container });
    return viewer.importXML(xml).then(function (result) {
      var warnings = (result.warnings || []).map(function (w) { return String(w.message || w); });
      var canvas = viewer.get('canvas');
      canvas.zoom('fit-viewport', 'auto');
      mark(viewer, markers.completed || [], 'arsflow-completed');
      mark(viewer, markers.active || [], 'arsflow-active');
      mark(viewer, markers.warnings || [], 'arsflow-warning');
      mark(viewer, markers.errors || [], 'arsflow-error');
      report(container, { warnings: warnings, error: null }, first);
      if (warnings.length) {
        message(container, warnings.length + ' avertissement(s) à l\'affichage du schéma.', 'warning');
      }
    }).catch(function (err) {
      var warnings = ((err && err.warnings) || []).map(function (w) { return String(w.message || w); });
      report(container, { warnings: warnings, error: String((err && err.message) || err) }, first);
      message(container, 'Le schéma ne peut pas être dessiné : ' + ((err && err.message) || err), 'error');
    });
  }

  function init(container, index) {
    var first = index === 0;
    var markers = { errors: ids(container.dataset.errors), warnings: ids(container.dataset.warnings) };
    if (container.dataset.xml !== undefined) {
      draw(container, container.dataset.xml, markers, first);
      return;
    }
    fetch(container.dataset.diagramUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      })
      .then(function (data) {
        markers.active = data.active || [];
        markers.completed = data.completed || [];
        return draw(container, data.xml, markers, first);
      })
      .catch(function (err) {
        report(container, { warnings: [], error: String(err.message || err) }, first);
        message(container, 'Le schéma n\'a pas pu être chargé (' + (err.message || err) + ').', 'error');
      });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('.arsflow-diagram'), init);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
