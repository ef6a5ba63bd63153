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
