// Podium's browser UI. The lobby, the room and the recordings pages arrive with the
// meeting feature; for now the page shows the server's health.
const app = document.getElementById('app');
app.innerHTML = `<div class="center"><div class="card"><h1>Podium</h1>
  <p class="muted" id="health">Checking the server…</p></div></div>`;
fetch('/api/health')
  .then((r) => r.json())
  .then((h) => {
    document.getElementById('health').textContent =
      `Server ${h.status}, version ${h.version}, ${h.workers.length} media worker(s).`;
  })
  .catch(() => {
    document.getElementById('health').textContent = 'The server cannot be reached.';
  });
