import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; never a browser downloaded by a test tool. */
export const CHROMIUM = '/usr/bin/chromium';
/** Where screenshots of every page a browser test visits go. */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-output', 'screenshots');

/** Launches headless Debian Chromium, failing loudly with the install command when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`missing prerequisite ${CHROMIUM}: install it with: apt-get install -y chromium`);
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'],
  });
}
