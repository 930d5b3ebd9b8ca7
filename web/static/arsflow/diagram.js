/* Draws the BPMN diagrams of the page with the vendored bpmn-js NavigatedViewer.
 *
 * A container `.arsflow-diagram` gives either `data-diagram-url` (JSON: xml, active,
 * completed) or `data-xml` (an uploaded file), and optionally `data-errors` /
 * `data-warnings` (element ids the linter reported). The import outcome is exposed as
 * `window.arsflowDiagramImport` ({warnings, error}) for the first diagram of the page and
 * `window.arsflowDiagramImports[id]` for each, so browser tests can check it.
 *
 * Readable at first sight: the whole diagram fits the width; when that makes it too small
 * to read, the view zooms on the current step(s) instead, which carry an « En cours » label.
 * Buttons switch between the two views; bpmn-js's own messages are shown in French.
 */
(function () {
  'use strict';

  window.arsflowDiagramImports = window.arsflowDiagramImports || {};

  var READABLE_SCALE = 0.7;  // below this, task names are too small to read

  // bpmn-js and bpmn-moddle messages (import warnings and errors), in French.
  var FRENCH = [
    [/^unparsable content <([^>]*)> detected([\s\S]*)$/, 'contenu illisible <$1> détecté$2'],
    [/^unknown type <([^>]*)>$/, 'type inconnu <$1>'],
    [/^unresolved reference <([^>]*)>$/, 'référence non résolue <$1>'],
    [/^failed to import (.*)$/, 'échec de l\'import de $1'],
    [/^no diagram to display$/, 'aucun schéma à afficher'],
    [/^no process or collaboration to display$/, 'aucun processus ni collaboration à afficher'],
    [/^multiple DI elements defined for (.*)$/, 'plusieurs éléments graphiques (DI) définis pour $1'],
    [/^missing (.*)$/, '$1 manquant'],
    [/^element (.*) referenced by (.*) not yet drawn$/, 'l\'élément $1, référencé par $2, n\'est pas encore dessiné'],
    [/^unrecognized flowElement (.*) in context (.*)$/, 'élément de flux $1 non reconnu dans le contexte $2'],
    [/^unsupported bpmnElement for (.*)$/, 'bpmnElement non pris en charge pour $1'],
    [/^unhandled element <([^>]*)>$/, 'élément <$1> non traité'],
    [/^illegal first char .*$/, 'XML mal formé (premier caractère invalide)'],
    [/^Text data outside of root node\.?/, 'XML mal formé : du texte hors de l\'élément racine'],
    [/^Failed to fetch$/, 'connexion au serveur impossible']
  ];

  function french(text) {
    text = String(text || '');
    for (var i = 0; i < FRENCH.length; i++) {
      if (FRENCH[i][0].test(text)) {
        return text.replace(FRENCH[i][0], FRENCH[i][1]);
      }
    }
    return text;
  }

  // bpmn-js's `translate` service: the few texts the viewer itself shows.
  var LABELS = { 'Open minimap': 'Ouvrir la mini-carte', 'Close minimap': 'Fermer la mini-carte' };
  function translate(template, replacements) {
    replacements = replacements || {};
    return french(LABELS[template] || template).replace(/{([^}]+)}/g, function (_, key) {
      return replacements[key] || '{' + key + '}';
    });
  }

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
    return elementIds.filter(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, cssClass);
        return true;
      }
      return false;
    });
  }

  function bounds(viewer, elementIds) {
    var registry = viewer.get('elementRegistry');
    var box = null;
    elementIds.forEach(function (id) {
      var el = registry.get(id);
      if (!el || el.waypoints) { return; }
      var b = { x1: el.x, y1: el.y, x2: el.x + el.width, y2: el.y + el.height };
      box = box ? { x1: Math.min(box.x1, b.x1), y1: Math.min(box.y1, b.y1),
                    x2: Math.max(box.x2, b.x2), y2: Math.max(box.y2, b.y2) } : b;
    });
    return box;
  }

  // Whole diagram across the width; too small to read → centred on the current steps.
  function focus(viewer, active, container) {
    var canvas = viewer.get('canvas');
    canvas.zoom('fit-viewport', 'auto');
    var box = bounds(viewer, active);
    if (!box || canvas.zoom() >= READABLE_SCALE) {
      container.setAttribute('data-view', 'ensemble');
      return;
    }
    var size = canvas.getSize();
    var scale = Math.min(1, Math.max(READABLE_SCALE, Math.min(size.width / ((box.x2 - box.x1) + 200),
                                                             size.height / ((box.y2 - box.y1) + 160))));
    var cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2;
    canvas.viewbox({ x: cx - size.width / scale / 2, y: cy - size.height / scale / 2,
                     width: size.width / scale, height: size.height / scale });
    container.setAttribute('data-view', 'etape');
  }

  function button(label, icon, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'fr-btn fr-btn--tertiary fr-btn--sm fr-btn--icon-left ' + icon;
    b.textContent = label;
    b.addEventListener('click', onClick);
    return b;
  }

  function toolbar(viewer, container, active) {
    var bar = document.createElement('div');
    bar.className = 'arsflow-diagram__tools';
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', 'Affichage du schéma');
    var canvas = viewer.get('canvas');
    if (active.length) {
      bar.appendChild(button('Étape en cours', 'fr-icon-map-pin-2-line', function () { focus(viewer, active, container); }));
    }
    bar.appendChild(button('Vue d\'ensemble', 'fr-icon-fullscreen-line', function () {
      canvas.zoom('fit-viewport', 'auto');
      container.setAttribute('data-view', 'ensemble');
    }));
    bar.appendChild(button('Zoomer', 'fr-icon-zoom-in-line', function () { canvas.zoom(canvas.zoom() * 1.25); }));
    bar.appendChild(button('Dézoomer', 'fr-icon-zoom-out-line', function () { canvas.zoom(canvas.zoom() / 1.25); }));
    container.parentNode.insertBefore(bar, container);
  }

  function currentSteps(viewer, container, active) {
    var registry = viewer.get('elementRegistry');
    var names = active.map(function (id) {
      var el = registry.get(id);
      return (el && el.businessObject && el.businessObject.name) || id;
    });
    var overlays = viewer.get('overlays');
    active.forEach(function (id) {
      var el = registry.get(id);
      var type = (el && el.type) || '';
      if (/Event$|Gateway$/.test(type)) { return; }  // a boundary timer's badge would hide its task's name
      var badge = document.createElement('span');
      badge.className = 'arsflow-overlay-active';
      badge.textContent = 'En cours';
      overlays.add(id, 'arsflow-active', { position: { top: -22, left: 0 }, html: badge });
    });
    var p = document.createElement('p');
    p.className = 'fr-text--sm fr-mb-1w arsflow-diagram__current';
    p.textContent = (names.length > 1 ? 'Étapes en cours : ' : 'Étape en cours : ') + names.join(' ; ');
    container.parentNode.insertBefore(p, container);
  }

  function draw(container, xml, markers, first) {
    var loading = container.querySelector('.arsflow-diagram__loading');
    if (loading) { loading.remove(); }
    if (typeof window.BpmnJS !== 'function') {
      report(container, { warnings: [], error: 'bpmn-js indisponible' }, first);
      message(container, 'Le visualiseur de schémas n\'a pas pu être chargé.', 'error');
      return Promise.resolve();
    }
    var viewer = new window.BpmnJS({
      container: container,
      additionalModules: [{ translate: ['value', translate] }]
    });
    return viewer.importXML(xml).then(function (result) {
      var warnings = (result.warnings || []).map(function (w) { return french(w.message || w); });
      mark(viewer, markers.completed || [], 'arsflow-completed');
      var active = mark(viewer, markers.active || [], 'arsflow-active');
      mark(viewer, markers.warnings || [], 'arsflow-warning');
      mark(viewer, markers.errors || [], 'arsflow-error');
      if (active.length) { currentSteps(viewer, container, active); }
      toolbar(viewer, container, active);
      focus(viewer, active, container);
      report(container, { warnings: warnings, error: null }, first);
      if (warnings.length) {
        message(container, warnings.length + ' avertissement(s) à l\'affichage du schéma : ' + warnings[0], 'warning');
      }
    }).catch(function (err) {
      var warnings = ((err && err.warnings) || []).map(function (w) { return french(w.message || w); });
      var text = french((err && err.message) || err);
      report(container, { warnings: warnings, error: text }, first);
      message(container, 'Le schéma ne peut pas être dessiné : ' + text, 'error');
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
        var text = french(err.message || err);
        report(container, { warnings: [], error: text }, first);
        message(container, 'Le schéma n\'a pas pu être chargé (' + text + ').', 'error');
      });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('.arsflow-diagram'), init);
  }

  window.arsflowDiagramFrench = french;  // for the browser tests

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
