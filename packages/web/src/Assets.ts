/**
 * The web app's two static assets, served by the app itself (`/app/assets/…`, cached for a day, named by content
 * version): the style sheet, and the one script — the task page's live updates. Pages read fine without either
 * script or styles; the script only replaces the task's live section with what the server renders
 * (`/app/tasks/:id/live`), polling while the task is active and backing off when it cannot reach the server.
 */

export const VERSION = "1"

/** The web app's one stylesheet (served at `/app/assets/app-<VERSION>.css`, cached for a day). */
export const CSS = `
:root{color-scheme:light;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--link:#0550ae;
--ok:#116329;--bad:#a40e26;--run:#7d4e00;--idle:#57606a;--focus:#0969da}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:2}
header.top{background:#24292f;color:#fff}
header.top nav{display:flex;flex-wrap:wrap;gap:16px;align-items:center;max-width:1100px;margin:0 auto;padding:10px 16px}
header.top a{color:#fff;text-decoration:none}
header.top a[aria-current=page]{text-decoration:underline;text-underline-offset:6px}
header.top .brand{font-weight:700;font-size:18px}
header.top ul{display:flex;gap:16px;list-style:none;margin:0;padding:0;flex:1}
header.top form{display:flex;gap:8px;align-items:center;margin:0}
header.top button{background:transparent;color:#fff;border:1px solid #8c959f}
main{max-width:1100px;margin:0 auto;padding:16px}
footer{max-width:1100px;margin:24px auto;padding:0 16px;color:var(--muted);font-size:13px}
h1{font-size:24px;margin:8px 0 16px}h2{font-size:18px;margin:24px 0 8px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600}
caption{text-align:left;color:var(--muted);padding:4px 0}
button,.button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid var(--line);background:var(--soft);
color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
button.primary,.button.primary{background:#1f883d;color:#fff;border-color:#1a7f37}
button.danger{background:#fff;color:var(--bad);border-color:var(--bad)}
input,select,textarea{font:inherit;padding:4px 8px;border:1px solid #6e7781;border-radius:6px;background:#fff;color:var(--fg)}
label{font-weight:600}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:8px 0 16px}
.filters div{display:flex;flex-direction:column;gap:2px}
.state{font-weight:600;white-space:nowrap}
.state-succeeded{color:var(--ok)}.state-failed,.state-timed_out{color:var(--bad)}
.state-running,.state-provisioning,.state-queued{color:var(--run)}.state-cancelled,.state-awaiting_approval{color:var(--idle)}
.muted{color:var(--muted)}
.flash{border:1px solid var(--line);border-left:4px solid var(--focus);background:var(--soft);padding:8px 12px;margin:8px 0}
.flash.bad{border-left-color:var(--bad)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
pre.log{background:#0d1117;color:#e6edf3;padding:12px;overflow:auto;max-height:420px;border-radius:6px;font-size:13px}
.actions{display:flex;gap:8px;margin:12px 0}.actions form{margin:0}
.stack{display:flex;flex-direction:column;gap:12px;max-width:640px}
.stack div{display:flex;flex-direction:column;gap:2px}
.hint{color:var(--muted);font-size:13px;font-weight:400}
nav.pages{display:flex;gap:16px;margin:12px 0}
code{background:var(--soft);padding:1px 4px;border-radius:4px}
`

/** The task page's live updates (progressive enhancement; about 1 KiB). */
export const LIVE_JS = `(function(){
var root=document.querySelector("[data-live]");if(!root)return;
var url=root.getAttribute("data-live"),delay=1500;
function later(){setTimeout(tick,document.hidden?5000:delay)}
function tick(){
if(root.getAttribute("data-active")!=="true")return;
var v=root.getAttribute("data-version")||"";
fetch(url+"?v="+encodeURIComponent(v),{headers:{accept:"application/json"},credentials:"same-origin"})
.then(function(r){
if(r.status===204){delay=1500;return later()}
if(r.status!==200){delay=Math.min(delay*2,15000);return later()}
return r.json().then(function(b){
root.innerHTML=b.html;root.setAttribute("data-version",b.version);
root.setAttribute("data-active",b.active?"true":"false");delay=1500;later()})})
.catch(function(){delay=Math.min(delay*2,15000);later()})}
later()})();
`
