package report

import "html/template"

var runTemplate = template.Must(template.New("run").Parse(head + `<body>
<h1>{{.Title}}</h1>
{{with .Info}}<p class="meta">{{range .}}<span>{{.K}}: {{.V}}</span> · {{end}}</p>{{end}}
{{with .Result}}<p id="result" class="status-{{.Status}}"><b>{{.Status}}</b> after {{.Turns}} turns{{with .Duration}}, {{.}}{{end}}: {{.StopReason}}{{with .Error}} <span class="note">{{.}}</span>{{end}}</p>{{end}}
{{with .Usage}}<p class="meta" id="usage">{{range .}}{{.K}}: {{.V}}<br>{{end}}</p>{{end}}
{{if .TranscriptHref}}<p class="meta"><a href="{{.TranscriptHref}}">transcript</a></p>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<div class="msg agent-task" id="task"><div class="who"><span>task</span></div><div class="body">{{.Task}}</div></div>
{{range .Messages}}<div class="msg agent-{{.Agent}}" id="{{.Anchor}}" data-agent="{{.Agent}}">
<div class="who"><span>{{.Agent}}</span><span class="meta">{{.Meta}}</span></div>
<div class="body">{{.HTML}}
{{with .Head}}<pre>{{.}}</pre>{{end}}
{{range .Blocks}}<div class="block {{if .OK}}ok{{else}}fail{{end}}"><div class="title">{{.Title}}</div>
{{range .Parts}}{{if .Label}}<div class="{{.Label}}"><div class="out-label">{{.Label}}</div><pre>{{.Text}}</pre></div>{{else}}<div>{{.Text}}</div>{{end}}{{end}}
{{range .Images}}{{template "img" .}}{{end}}</div>
{{end}}{{with .Tail}}<pre class="files">{{.}}</pre>{{end}}
{{range .Images}}{{template "img" .}}{{end}}</div></div>
{{end}}
{{with .Changes}}<h2>Changes to the project</h2>{{range .}}<pre>{{.}}</pre>{{end}}{{end}}
{{with .Images}}<h2>Other images in the workspace</h2>{{range .}}{{template "img" .}}{{end}}{{end}}
</body>
</html>
{{define "img"}}<figure class="image">{{if .URI}}<img src="{{.URI}}" alt="{{.Name}}">{{end}}<figcaption>{{.Name}}{{with .Note}} <span class="note">{{.}}</span>{{end}}</figcaption></figure>{{end}}
`))

var batchTemplate = template.Must(template.New("batch").Parse(head + `<body>
<h1>{{.Title}}</h1>
<div id="summary"><table><tbody>{{range .Summary}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</tbody></table>
<div class="charts">{{range .Charts}}{{.}}{{end}}</div></div>
<p class="controls"><label>Filter <input id="filter" type="search" placeholder="id, stop reason, error"></label>
<label>Status <select id="status"><option value="">all</option>{{range .Statuses}}<option>{{.}}</option>{{end}}</select></label>
<span id="shown" class="meta"></span></p>
<table id="tasks"><thead><tr>
<th data-key="id">id</th><th data-key="status">status</th><th data-key="turns">turns</th><th data-key="tokens">tokens</th><th data-key="duration">duration</th><th data-key="exit">last exit</th><th data-key="engine">engine</th><th>stop reason</th>
</tr></thead><tbody>
{{range .Rows}}<tr data-status="{{.Status}}">
<td data-v="{{.ID}}">{{if .Href}}<a href="{{.Href}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td>
<td data-v="{{.Status}}" class="status-{{.Status}}">{{.Status}}</td><td data-v="{{.Turns}}">{{.Turns}}</td><td data-v="{{.Tokens}}">{{.Tokens}}</td>
<td data-v="{{.DurationMS}}">{{.Duration}}</td><td data-v="{{.ExitSort}}">{{.Exit}}</td><td data-v="{{.Engine}}">{{.Engine}}</td>
<td>{{.StopReason}}{{with .Error}} <span class="note">{{.}}</span>{{end}}</td></tr>
{{end}}</tbody></table>
<script nonce="{{.Nonce}}">{{.Script}}</script>
</body>
</html>
`))

const batchCSS = `
.charts{display:flex;gap:2em;flex-wrap:wrap;margin:1em 0}#summary>table{margin:.5em 0}
#tasks th[data-key]{cursor:pointer;user-select:none}#tasks th.asc::after{content:" ▲"}#tasks th.desc::after{content:" ▼"}
.controls label{margin-right:1.5em}
`

// batchScript sorts and filters the table: a click on a heading sorts by
// it (again: the other way), and the fragment (#sort=-duration&status=error&q=abc)
// says the same, so a link can open the table sorted. It reads cells'
// data-v and sets only rows' order and hidden, never HTML.
const batchScript = `(function () {
  "use strict";
  var table = document.getElementById("tasks"), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (r, i) { r.dataset.i = i; });
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter"), status = document.getElementById("status");
  var state = {sort: "", q: "", status: ""};
  function col(key) { for (var i = 0; i < heads.length; i++) if (heads[i].dataset.key === key) return i; return -1; }
  function apply() {
    var key = state.sort.replace(/^-/, ""), desc = state.sort.charAt(0) === "-", c = col(key);
    heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
    var sorted = rows.slice();
    if (c >= 0) {
      heads[c].classList.add(desc ? "desc" : "asc");
      sorted.sort(function (a, b) {
        var x = a.cells[c].dataset.v, y = b.cells[c].dataset.v, nx = Number(x), ny = Number(y);
        var d = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        if (desc) d = -d;
        return d || a.dataset.i - b.dataset.i;
      });
    }
    var q = state.q.toLowerCase(), shown = 0;
    sorted.forEach(function (r) {
      var ok = (!state.status || r.dataset.status === state.status) && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) shown++;
      body.appendChild(r);
    });
    table.dataset.sort = state.sort;
    document.getElementById("shown").textContent = shown + " of " + rows.length + " shown";
  }
  function fromHash() {
    var p = new URLSearchParams(location.hash.slice(1));
    state = {sort: p.get("sort") || "", q: p.get("q") || "", status: p.get("status") || ""};
    filter.value = state.q; status.value = state.status;
    apply();
  }
  function toHash() {
    var p = new URLSearchParams();
    Object.keys(state).forEach(function (k) { if (state[k]) p.set(k, state[k]); });
    history.replaceState(null, "", "#" + p.toString());
    apply();
  }
  heads.forEach(function (h) {
    if (!h.dataset.key) return;
    h.addEventListener("click", function () {
      state.sort = state.sort === h.dataset.key ? "-" + h.dataset.key : h.dataset.key;
      toHash();
    });
  });
  filter.addEventListener("input", function () { state.q = filter.value; toHash(); });
  status.addEventListener("change", function () { state.status = status.value; toHash(); });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();`
