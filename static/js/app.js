/* RnD Cards — the little JavaScript the pages need. No inline scripts anywhere (CSP). */
(function () {
  "use strict";

  var TRIX_LANG_PL = {
    attachFiles: "Załącz pliki",
    bold: "Pogrubienie",
    bullets: "Lista punktowana",
    byte: "bajt",
    bytes: "bajtów",
    captionPlaceholder: "Dodaj podpis…",
    code: "Kod",
    heading1: "Nagłówek",
    indent: "Zwiększ wcięcie",
    italic: "Kursywa",
    link: "Link",
    numbers: "Lista numerowana",
    outdent: "Zmniejsz wcięcie",
    quote: "Cytat",
    redo: "Ponów",
    remove: "Usuń",
    strike: "Przekreślenie",
    undo: "Cofnij",
    unlink: "Usuń link",
    url: "Adres URL",
    urlPlaceholder: "Wpisz adres URL…"
  };

  // Trix builds its toolbar right after this event, so the labels are Polish in time
  // whichever script ran first.
  document.addEventListener("trix-before-initialize", function () {
    if (window.Trix && window.Trix.config && window.Trix.config.lang) {
      Object.assign(window.Trix.config.lang, TRIX_LANG_PL);
    }
    // The editor knows only what the sanitizer keeps (bold, italic, lists): pasted headings,
    // quotes, code, strike-through and links then arrive as plain text in the editor too,
    // instead of showing formatting that a save would silently drop.
    if (window.Trix && window.Trix.config) {
      ["heading1", "quote", "code"].forEach(function (name) {
        delete window.Trix.config.blockAttributes[name];
      });
      ["strike", "href"].forEach(function (name) {
        delete window.Trix.config.textAttributes[name];
      });
    }
  });

  // Sections hold text only: the sanitizer would drop attachments, so refuse them up front.
  document.addEventListener("trix-file-accept", function (event) {
    event.preventDefault();
  });

  document.addEventListener("trix-initialize", function (event) {
    var editor = event.target;
    if (editor.closest(".section--editing")) {
      editor.focus();
    }
  });

  // The CSRF token is read when the request leaves, not when the page was loaded: after
  // logging in again in another tab (the advice an expired session gives) the token has
  // changed, and the page's old one would turn the consultant's save into a 403.
  document.addEventListener("htmx:configRequest", function (event) {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      var token = decodeURIComponent(match[1]);
      event.detail.headers["X-CSRFToken"] = token;
      // A form's own hidden token would win over the header: refresh it too.
      var data = event.detail.formData;
      if (data && data.has && data.has("csrfmiddlewaretoken")) {
        data.set("csrfmiddlewaretoken", token);
      }
    }
  });

  // Unsaved edits: warn before the page is left with an editor changed but not saved.
  document.addEventListener("trix-change", function (event) {
    var form = event.target.closest("form");
    if (form) {
      form.setAttribute("data-dirty", "");
    }
  });
  document.addEventListener("submit", function (event) {
    event.target.removeAttribute("data-dirty");
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form && event.detail.requestConfig && event.detail.requestConfig.verb !== "get") {
      form.removeAttribute("data-dirty");
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (document.querySelector("form[data-dirty]")) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // A failed htmx request must never look like success nor lose what the consultant typed:
  // nothing is swapped (the editor keeps its text), the form is marked unsaved again, and
  // a message says what happened and what to do.
  var ERRORS = {
    401: "Sesja wygasła. Zaloguj się ponownie w nowej karcie przeglądarki, a potem wróć tu i zapisz jeszcze raz — Twój tekst jest nadal w edytorze.",
    403: "Strona jest nieaktualna (wygasł token bezpieczeństwa). Skopiuj swój tekst, odśwież stronę i zapisz ponownie.",
    404: "Nie znaleziono tego elementu — mógł zostać usunięty. Odśwież stronę.",
    413: "Tekst jest zbyt duży, by go zapisać. Skróć go i spróbuj ponownie.",
    429: "Zbyt wiele żądań w krótkim czasie. Odczekaj chwilę i spróbuj ponownie — Twój tekst jest nadal w edytorze."
  };
  function showError(message) {
    var box = document.getElementById("client-error");
    if (!box) {
      return;
    }
    box.textContent = message;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  function markUnsaved(event) {
    var elt = event.detail && event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form") : null;
    if (form && form.querySelector("trix-editor")) {
      form.setAttribute("data-dirty", "");
    }
  }
  // A 429 from the rate limiter says how long to wait (Retry-After, seconds).
  function rateLimitedMessage(xhr) {
    var seconds = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
    if (!(seconds > 0)) {
      return ERRORS[429];
    }
    return "Zbyt wiele żądań w krótkim czasie. Odczekaj " + seconds + " s i spróbuj ponownie — Twój tekst jest nadal w edytorze, nic nie zostało zapisane.";
  }
  // The degraded-mode banner's poll failing is not the user's operation failing.
  function fromBanner(event) {
    return event.detail && event.detail.elt && event.detail.elt.id === "degraded-banner";
  }
  document.addEventListener("htmx:responseError", function (event) {
    if (fromBanner(event)) {
      return;
    }
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    markUnsaved(event);
    showError(
      (status === 429 && rateLimitedMessage(xhr)) ||
        ERRORS[status] ||
        "Serwer nie mógł wykonać operacji (kod " + status + "). Spróbuj ponownie za chwilę — Twój tekst jest nadal w edytorze."
    );
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (fromBanner(event)) {
      return;
    }
    markUnsaved(event);
    showError("Brak połączenia z serwerem. Sprawdź sieć i spróbuj ponownie — Twój tekst jest nadal w edytorze.");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (fromBanner(event)) {
      return; // a banner refresh must not hide an error the user has not read yet
    }
    var box = document.getElementById("client-error");
    if (box && !box.hidden) {
      box.hidden = true;
    }
  });

  // Make the offline draft's "[DO WERYFIKACJI]" markers stand out in the displayed text.
  var MARKER = "[DO WERYFIKACJI]";
  function markTodos(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    var bodies = root.matches && root.matches(".section__body") ? [root] : root.querySelectorAll(".section__body");
    Array.prototype.forEach.call(bodies, function (body) {
      var walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
      var nodes = [];
      while (walker.nextNode()) {
        if (walker.currentNode.nodeValue.indexOf(MARKER) !== -1 && !walker.currentNode.parentNode.closest("mark")) {
          nodes.push(walker.currentNode);
        }
      }
      nodes.forEach(function (node) {
        var parts = node.nodeValue.split(MARKER);
        var fragment = document.createDocumentFragment();
        parts.forEach(function (part, index) {
          if (index > 0) {
            var mark = document.createElement("mark");
            mark.className = "todo";
            mark.textContent = MARKER;
            fragment.appendChild(mark);
          }
          if (part) {
            fragment.appendChild(document.createTextNode(part));
          }
        });
        node.parentNode.replaceChild(fragment, node);
      });
    });
  }
  // htmx:load fires for the page body on start and for every swapped-in fragment.
  document.addEventListener("htmx:load", function (event) {
    markTodos(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    markTodos(document);
  });
})();
