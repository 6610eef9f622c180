//  browser_test.js - finmatch-dashboard in a real headless Chromium
//
//  Usage: node browser_test.js URL FINMATCH BROKER_EP ENTERPRISE OUT_DIR
//  (run by tests/dashboard_browser.sh, which starts the system).  Loads the
//  page, waits until its live stream is connected, submits one financing
//  request with the real CLI and measures how long until that request's
//  id appears in the recent-events table (must be < 1000 ms), checks the
//  counters, the chart and the tables, that no request left for another
//  origin, then saves dashboard.png and report.png in OUT_DIR.
//  Exit 0 on success, 1 with a message on the first failure.
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const crypto = require('crypto');
const path = require('path');

const [url, finmatch, broker, enterprise, outDir] = process.argv.slice(2);
const APPEAR_MS = 1000;

function fail (message) {
    console.error('FAIL: ' + message);
    process.exit(1);
}

(async () => {
    const profile = require('fs').mkdtempSync(path.join(outDir, 'chromium-profile-'));
    //  A fresh --user-data-dir: playwright takes it as the persistent
    //  context's directory
    const browser = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.FM_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
    const timer = setTimeout(() => fail('test took over 60 s'), 60000);
    try {
        const page = browser.pages()[0] || await browser.newPage();
        const origin = new URL(url).origin;
        const foreign = [];
        const errors = [];
        page.on('request', r => { if (!r.url().startsWith(origin)) foreign.push(r.url()); });
        page.on('pageerror', e => errors.push(String(e)));
        page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

        await page.goto(url);
        const title = await page.title();
        if (!title.includes('融资对接')) fail('page title: ' + title);
        await page.waitForSelector('#status.live', { timeout: 10000 });
        await page.waitForFunction(() => document.body.dataset.generation !== undefined,
                                   null, { timeout: 10000 });
        const before = Number(await page.textContent('#c-requests'));
        if (!(before >= 0)) fail('request counter is not a number before');

        //  The request id is known before sending: SHA-1(enterprise "\n" key)
        const key = 'browser-' + process.pid + '-' + Date.now();
        const id = crypto.createHash('sha1').update(enterprise + '\n' + key)
                         .digest('hex').slice(0, 16);
        const started = Date.now();
        const child = spawn(finmatch, ['--broker', broker, 'request',
            '--enterprise', enterprise, '--amount', '100万', '--term', '12',
            '--consent', 'all', '--purpose', '浏览器测试', '--key', key],
            { stdio: ['ignore', 'pipe', 'pipe'] });
        const closed = new Promise(resolve => child.on('close', resolve));
        let output = '';
        child.stdout.on('data', d => { output += d; });
        child.stderr.on('data', d => { output += d; });
        await page.waitForSelector('#recent tr[data-request="' + id + '"]',
                                   { timeout: 5000 })
                  .catch(() => fail('request ' + id + ' not on the page after 5 s'));
        const elapsed = Date.now() - started;
        console.log('request ' + id + ' appeared on the page after ' + elapsed + ' ms');
        if (elapsed >= APPEAR_MS) fail('appeared after ' + elapsed + ' ms, want < ' + APPEAR_MS);

        const code = await closed;
        if (code !== 0) fail('finmatch request exited ' + code + ':\n' + output);
        //  The request's offers arrive too: counters, table, chart
        await page.waitForFunction(b => Number(document.querySelector('#c-requests').textContent) === b + 1,
                                   before, { timeout: 5000 })
                  .catch(() => fail('requests counter did not become ' + (before + 1)));
        await page.waitForFunction(() => Number(document.querySelector('#c-offers').textContent) > 0,
                                   null, { timeout: 5000 })
                  .catch(() => fail('no offer counted'));
        await page.waitForSelector('#chart-offers svg rect', { timeout: 5000 })
                  .catch(() => fail('no bar in the offers chart'));
        const bankRows = await page.$$eval('#banks tbody tr', rows => rows.length);
        const gridRows = await page.$$eval('#grids tbody tr', rows => rows.length);
        if (bankRows < 1 || gridRows < 1) fail('bank/grid tables empty: ' + bankRows + '/' + gridRows);
        //  Names (the dashboard has --banks, --towns): the bank by name with
        //  its code, in the table and the chart; the grid's town and the
        //  town table by name
        const named = /[\u4e00-\u9fff]+\([A-Z0-9_]+\)/;
        const bankCells = await page.$$eval('#banks tbody td:first-child', cells => cells.map(c => c.textContent));
        if (!bankCells.includes('重庆农村商业银行(CQRCB)')) fail('bank table: ' + bankCells.join(','));
        const bars = await page.$$eval('#chart-offers svg text', texts => texts.map(t => t.textContent));
        if (!bars.includes('重庆农村商业银行(CQRCB)')) fail('offers chart: ' + bars.join(','));
        const townCells = await page.$$eval('#grids tbody td:nth-child(2)', cells => cells.map(c => c.textContent));
        if (!townCells.some(t => named.test(t))) fail('grid table towns: ' + townCells.join(','));
        await page.waitForFunction(() => Array.from(document.querySelectorAll('#towns tbody td:first-child'))
                                             .some(c => c.textContent === '观音桥街道(GYQ)'),
                                   null, { timeout: 5000 })
                  .catch(() => fail('no 观音桥街道(GYQ) in the town table'));
        const types = await page.$$eval('#recent tr[data-request="' + id + '"] td:nth-child(2)',
                                        cells => cells.map(c => c.textContent));
        if (!types.includes('收到融资需求')) fail('no 收到融资需求 row: ' + types.join(','));
        console.log('counters: requests ' + await page.textContent('#c-requests') +
                    ', offers ' + await page.textContent('#c-offers') +
                    ', bank rows ' + bankRows + ', grid rows ' + gridRows +
                    ', banks ' + bankCells.join(' ') + ', grid towns ' + townCells.join(' ') +
                    ', event types of the request: ' + types.join(' '));
        await page.waitForTimeout(300);   //  the row's highlight fades; the picture is of a settled page
        await page.screenshot({ path: path.join(outDir, 'dashboard.png'), fullPage: true });

        //  The HTML report of the same figures
        await page.goto(url + 'report.html');
        await page.waitForSelector('#chart-offers rect', { timeout: 5000 })
                  .catch(() => fail('report.html has no chart'));
        await page.screenshot({ path: path.join(outDir, 'report.png'), fullPage: true });

        if (foreign.length) fail('requests to other origins: ' + foreign.join(' '));
        if (errors.length) fail('page errors: ' + errors.join(' | '));
        console.log('screenshots: ' + path.join(outDir, 'dashboard.png') + ' ' +
                    path.join(outDir, 'report.png'));
    } finally {
        clearTimeout(timer);
        await browser.close();
    }
})().catch(e => fail(e.stack || String(e)));
