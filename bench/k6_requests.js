// k6: one prepared request per iteration, drawn at random: GET {url} or POST {url, form}.
// With FOLLOW=1 a request is a download: it follows the Bundle's next links to the end and
// counts the resources received (metric `resources`).
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const requests = JSON.parse(open(__ENV.REQUESTS_FILE));
const follow = __ENV.FOLLOW === '1';
const resources = new Counter('resources');

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
  discardResponseBodies: !follow,
};

function send(req) {
  if (req.form) {
    return http.post(req.url, req.form, {headers: {'Content-Type': 'application/x-www-form-urlencoded'}});
  }
  return http.get(req.url);
}

export default function () {
  const req = requests[Math.floor(Math.random() * requests.length)];
  let r = send(req);
  check(r, {ok: (x) => x.status === 200});
  if (!follow) return;
  while (r.status === 200) {
    const bundle = r.json();
    resources.add((bundle.entry || []).length);
    const next = (bundle.link || []).find((l) => l.relation === 'next');
    if (!next) break;
    r = http.get(next.url);
    check(r, {ok: (x) => x.status === 200});
  }
}
