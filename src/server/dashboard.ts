/**
 * The dashboard's home page: one static HTML page that reads the API with a token kept in the
 * browser's localStorage (never sent anywhere but this server). The fuller dashboard is a
 * later issue; this page shows GPUs (simulated ones marked) and recent jobs.
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gantry</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.4rem}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:left}th{background:#f4f4f4}.sim{background:#fff3cd;padding:.1rem .4rem;border-radius:3px}
.s-running{color:#06c}.s-succeeded{color:#080}.s-failed{color:#c00}.s-queued{color:#777}#err{color:#c00}
</style></head><body>
<h1>Gantry <small id="who"></small></h1>
<form id="login" hidden>Token: <input id="token" size="50" autocomplete="off"> <button>Use</button> <small>(gantry up printed where the admin token is)</small></form>
<div id="err"></div>
<h2>GPUs</h2><table id="gpus"><thead><tr><th>Node</th><th>GPU</th><th>Model</th><th>Util</th><th>Memory</th><th>Jobs</th></tr></thead><tbody></tbody></table>
<h2>Jobs</h2><table id="jobs"><thead><tr><th>ID</th><th>Name</th><th>Queue</th><th>State</th><th>Workers</th><th>Submitted</th><th>Reason</th></tr></thead><tbody></tbody></table>
<script>
const $=(s)=>document.querySelector(s);
const esc=(v)=>String(v??'').replace(/[&<>"']/g,(c)=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function api(p){const r=await fetch(p,{headers:{authorization:'Bearer '+localStorage.getItem('gantryToken')}});const b=await r.json();if(!r.ok)throw new Error(b.error?b.error.code+': '+b.error.message:r.status);return b;}
// A token may come in the URL fragment (never sent to a server): http://host:7480/#token=gty_...
if(location.hash.startsWith('#token=')){localStorage.setItem('gantryToken',decodeURIComponent(location.hash.slice(7)));history.replaceState(null,'',location.pathname);}
async function refresh(){
  if(!localStorage.getItem('gantryToken')){$('#login').hidden=false;return;}
  try{
    const me=await api('/v1/whoami');$('#who').textContent=me.name+' ('+me.team+(me.admin?', admin':'')+')';
    const top=await api('/v1/top');
    $('#gpus tbody').innerHTML=top.gpus.map(g=>'<tr><td>'+esc(g.node)+(g.simulated?' <span class="sim">simulated</span>':'')+'</td><td>'+g.index+'</td><td>'+esc(g.model)+(g.healthy?'':' (unhealthy)')+'</td><td>'+(g.utilization??'-')+'%</td><td>'+(g.memoryUsedMiB??'-')+' / '+g.memoryMiB+' MiB</td><td>'+g.jobs.map(j=>esc(j.job)+(j.share<1?' ('+j.share+')':'')).join(', ')+'</td></tr>').join('');
    const jobs=await api('/v1/jobs?limit=50');
    $('#jobs tbody').innerHTML=jobs.items.map(j=>'<tr><td>'+esc(j.id)+'</td><td>'+esc(j.name)+'</td><td>'+esc(j.queue)+'</td><td class="s-'+esc(j.state)+'">'+esc(j.state)+'</td><td>'+j.workers+'</td><td>'+esc(j.submittedAt)+'</td><td>'+esc(j.reason)+'</td></tr>').join('');
    $('#err').textContent='';
  }catch(e){$('#err').textContent=String(e.message||e);if(String(e.message).startsWith('UNAUTHENTICATED')){localStorage.removeItem('gantryToken');$('#login').hidden=false;}}
}
$('#login').addEventListener('submit',(e)=>{e.preventDefault();localStorage.setItem('gantryToken',$('#token').value.trim());$('#login').hidden=true;refresh();});
refresh();setInterval(refresh,2000);
</script></body></html>`;

export function dashboardHtml(): string {
  return PAGE;
}
