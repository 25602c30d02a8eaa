/* The page's CSS and JavaScript, compiled in: no CDN, no build step, works offline. */
#include "web_impl.h"
#include "classlab/banned.h"

#include <string.h>

static const char style_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}\n"
    "header{display:flex;gap:1em;align-items:center;padding:.6em 1.2em;background:#24364b;"
    "color:#fff}\n"
    "header .brand{font-weight:700;flex:1}\n"
    "header button{background:transparent;color:#fff;border:1px solid #fff8}\n"
    "main{max-width:72em;margin:0 auto;padding:1em 1.2em}\n"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.4em 1.2em 1em;"
    "margin:1em 0}\n"
    "pre{background:#eef1f4;padding:.6em;overflow-x:auto;white-space:pre-wrap}\n"
    "pre.copy{cursor:pointer}\n"
    "table{border-collapse:collapse}td,th{padding:.25em .8em;text-align:left;border-bottom:"
    "1px solid #e6e9ed}\n"
    "button{font:inherit;padding:.3em .9em;margin:.2em;border-radius:4px;border:1px solid #8898aa;"
    "background:#fff;cursor:pointer}\n"
    "form.inline{display:inline}\n"
    ".error{color:#a0161d;font-weight:600}.notice{color:#1d5f2b}.hint{color:#4b5563}\n"
    "img.chart{max-width:100%;border:1px solid #dde1e6}\n";

/* Copy a command with one click; confirm a stop of every VM. Nothing inline (CSP). */
static const char app_js[] =
    "'use strict';\n"
    "document.addEventListener('DOMContentLoaded', function () {\n"
    "  document.querySelectorAll('a.jupyter').forEach(function (a) {\n"
    "    a.href = location.protocol + '//' + location.hostname + ':' + a.dataset.port + '/';\n"
    "  });\n"
    "  document.querySelectorAll('pre.copy').forEach(function (pre) {\n"
    "    pre.title = 'click to copy';\n"
    "    pre.addEventListener('click', function () {\n"
    "      if (navigator.clipboard) navigator.clipboard.writeText(pre.textContent);\n"
    "    });\n"
    "  });\n"
    "  document.querySelectorAll('form').forEach(function (f) {\n"
    "    f.addEventListener('submit', function (ev) {\n"
    "      var b = ev.submitter;\n"
    "      if (f.querySelector('input[name=all]') && b && b.value === 'stop' &&\n"
    "          !window.confirm('Stop every VM of this lab?')) { ev.preventDefault(); return; }\n"
    "      f.querySelectorAll('button').forEach(function (x) { x.disabled = true; });\n"
    "      if (b && b.name) { var h = document.createElement('input'); h.type = 'hidden';\n"
    "        h.name = b.name; h.value = b.value; f.appendChild(h); }\n"
    "    });\n"
    "  });\n"
    "});\n";

int web_asset(const char *name, cl_web_response *r)
{
	if (strcmp(name, "style.css") == 0) {
		cl_buf_add(&r->body, style_css, sizeof(style_css) - 1);
		r->content_type = "text/css; charset=utf-8";
	} else if (strcmp(name, "app.js") == 0) {
		cl_buf_add(&r->body, app_js, sizeof(app_js) - 1);
		r->content_type = "text/javascript; charset=utf-8";
	} else {
		return CL_ENOTFOUND;
	}
	r->status = 200;
	return 0;
}
