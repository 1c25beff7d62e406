// latchkey's only JavaScript: it runs the WebAuthn ceremonies, which browsers offer to
// scripts only. Buttons carry data-webauthn="register" or "authenticate" and the URLs to
// talk to; the page's CSRF token is sent as X-CSRF-Token.
(function () {
  "use strict";
  const b64urlToBytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  const bytesToB64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (const b of bytes) raw += String.fromCharCode(b);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const post = async (url, body, csrf) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((json.error && json.error.message) || "The request failed.");
    return json;
  };
  const show = (status, text, isError) => {
    if (!status) return;
    status.textContent = text;
    status.className = isError ? "alert error" : "alert info";
    status.hidden = false;
  };

  async function register(button) {
    const form = button.closest("form");
    const status = document.getElementById("webauthn-status");
    const csrf = form.querySelector("[name=csrf_token]").value;
    const name = form.querySelector("[name=name]").value;
    const password = form.querySelector("[name=password]");
    show(status, "Touch your security key…", false);
    const started = await post(button.dataset.options, { name }, csrf);
    const options = started.options.publicKey;
    options.challenge = b64urlToBytes(options.challenge);
    options.user.id = b64urlToBytes(options.user.id);
    (options.excludeCredentials || []).forEach((c) => (c.id = b64urlToBytes(c.id)));
    const credential = await navigator.credentials.create({ publicKey: options });
    const body = {
      ceremony_id: started.ceremony_id,
      password: password ? password.value : null,
      credential: {
        id: credential.id,
        rawId: bytesToB64url(credential.rawId),
        type: credential.type,
        extensions: credential.getClientExtensionResults(),
        response: {
          attestationObject: bytesToB64url(credential.response.attestationObject),
          clientDataJSON: bytesToB64url(credential.response.clientDataJSON),
          transports: credential.response.getTransports ? credential.response.getTransports() : [],
        },
      },
    };
    const done = await post(button.dataset.finish, body, csrf);
    window.location.assign(done.redirect);
  }

  async function authenticate(button) {
    const form = button.closest("form");
    const status = document.getElementById("webauthn-status");
    const csrf = form.querySelector("[name=csrf_token]").value;
    show(status, "Touch your security key…", false);
    const started = await post(button.dataset.options, {}, csrf);
    const options = started.options.publicKey;
    options.challenge = b64urlToBytes(options.challenge);
    (options.allowCredentials || []).forEach((c) => (c.id = b64urlToBytes(c.id)));
    const assertion = await navigator.credentials.get({ publicKey: options });
    const body = {
      ceremony_id: started.ceremony_id,
      credential: {
        id: assertion.id,
        rawId: bytesToB64url(assertion.rawId),
        type: assertion.type,
        extensions: assertion.getClientExtensionResults(),
        response: {
          authenticatorData: bytesToB64url(assertion.response.authenticatorData),
          clientDataJSON: bytesToB64url(assertion.response.clientDataJSON),
          signature: bytesToB64url(assertion.response.signature),
          userHandle: assertion.response.userHandle ? bytesToB64url(assertion.response.userHandle) : null,
        },
      },
    };
    const done = await post(button.dataset.finish, body, csrf);
    window.location.assign(done.redirect);
  }

  document.querySelectorAll("[data-webauthn]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        if (!window.PublicKeyCredential) throw new Error("This browser does not support security keys.");
        if (button.dataset.webauthn === "register") await register(button);
        else await authenticate(button);
      } catch (error) {
        show(document.getElementById("webauthn-status"), error.message || String(error), true);
        button.disabled = false;
      }
    });
  });
})();
