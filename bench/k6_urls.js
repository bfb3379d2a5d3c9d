// k6: GET one of a list of prepared URLs per iteration (bench/search.py writes the list).
import http from 'k6/http';
import { check } from 'k6';

const urls = JSON.parse(open(__ENV.URLS_FILE));

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
  discardResponseBodies: true,
};

export default function () {
  const r = http.get(urls[Math.floor(Math.random() * urls.length)]);
  check(r, {ok: (x) => x.status === 200});
}
