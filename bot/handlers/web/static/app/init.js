// External module => works under CSP script-src 'self' (no 'unsafe-inline').
// Replaces the inline snippet in govuk_frontend_jinja/template.html:
//   document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '')
// A browser that runs type=module supports noModule, so we can add both classes unconditionally.
// initAll() does nothing (logs SupportError) unless <body> has class govuk-frontend-supported.
import { initAll } from "/static/govuk/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
