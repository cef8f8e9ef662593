// The bar both follower pages show at the top (follow.js for the stepper,
// train/follow.js for the training page), and the room code they follow.

/** The ?follow= code of this page's address, or null (not a follower page, or not a code). */
export function followCode() {
  const code = new URLSearchParams(window.location.search).get('follow');
  return code && /^[\w -]{1,40}$/.test(code) ? code : null;
}

/** Put the follower's bar at the top of the page: the room's state, the
 * teacher's, then the page's own `extra` HTML; returns a lookup by test id. */
export function mountFollowBar(extra) {
  const bar = document.createElement('div');
  bar.className = 'follow-bar';
  bar.dataset.testid = 'follow-bar';
  bar.innerHTML = `
    <span class="follow-what" data-testid="follow-state" aria-live="polite"></span>
    <span class="follow-teacher" data-testid="teacher-state"></span>${extra}`;
  document.body.prepend(bar);
  document.body.classList.add('following');
  return (id) => bar.querySelector(`[data-testid=${id}]`);
}
