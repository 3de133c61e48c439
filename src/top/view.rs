//! `top`'s screen: ratatui drawing on crossterm, the keys, and the refresh loop —
//! run on the calling thread (the shell's), asking for a snapshot each second and
//! redrawing on a key or a resize in between. The terminal is taken by
//! [`Screen`] and given back by its `Drop`: on `q`, on an error, on a panic.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Constraint;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::{Frame, Terminal};

use super::model::{cells, Action, Key, Model, COLUMNS};
use crate::control::protocol::TopSnapshot;
use crate::terminal::TerminalMode;

/// How often a snapshot is asked for while the view is open.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The terminal while the view owns it: raw, on the alternate screen, cursor
/// hidden. Dropping it puts everything back, whatever ends the view.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    /// The modes before the view, put back last (after crossterm's own restore),
    /// so the shell's exact settings return even if crossterm's did not.
    _modes: Option<TerminalMode>,
}

/// Set while a view owns the terminal, so that the daemon's shutdown can take it
/// back at once ([`give_back_if_open`]) rather than at the view's next refresh:
/// a fact of the process's one terminal, like the attach client's saved modes.
static OPEN: AtomicBool = AtomicBool::new(false);

/// Gives the terminal back if a view owns it; the view then ends at its next
/// wake-up without drawing again. For the daemon, when its shutdown begins.
pub fn give_back_if_open() {
    if OPEN.swap(false, Ordering::SeqCst) {
        give_back();
    }
}

/// Leaves the alternate screen and raw mode; also what a half-made [`Screen`]
/// undoes.
fn give_back() {
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
}

impl Screen {
    fn take() -> io::Result<Screen> {
        let modes = TerminalMode::save(0);
        enable_raw_mode()?;
        let made = execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match made {
            Ok(terminal) => {
                OPEN.store(true, Ordering::SeqCst);
                Ok(Screen {
                    terminal,
                    _modes: modes,
                })
            }
            Err(e) => {
                give_back();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        give_back_if_open();
    }
}

/// Runs the view until `q`/Ctrl-C (Ok) or until `fetch` fails (its message).
/// `fetch` is called once before the terminal is taken, so a daemon that cannot
/// be asked is told on the plain terminal, then once a second.
pub fn run(fetch: &mut dyn FnMut() -> Result<TopSnapshot, String>) -> Result<(), String> {
    let mut model = Model::new(fetch()?);
    let broken = |e: io::Error| format!("the terminal failed: {e}");
    let mut screen = Screen::take().map_err(broken)?;
    let mut next = Instant::now() + REFRESH;
    let mut dirty = true;
    loop {
        if !OPEN.load(Ordering::SeqCst) {
            return Err("taskmaster is shutting down".to_string());
        }
        if dirty {
            // ratatui compares the size with the last frame's on each draw: a
            // resized window is cleared and drawn whole.
            (screen.terminal)
                .draw(|f| draw(f, &mut model))
                .map_err(broken)?;
            dirty = false;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if !event::poll(wait).map_err(broken)? {
            model.update(fetch()?);
            next = Instant::now() + REFRESH;
            dirty = true;
            continue;
        }
        match event::read().map_err(broken)? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                match key_of(k).map(|k| model.key(k)) {
                    Some(Action::Quit) => return Ok(()),
                    Some(Action::Redraw) => dirty = true,
                    Some(Action::Nothing) | None => {}
                }
            }
            Event::Resize(_, _) => dirty = true,
            _ => {}
        }
    }
}

/// The model's key for a terminal key, if it has one.
fn key_of(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return (k.code == KeyCode::Char('c')).then_some(Key::Quit);
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c.to_ascii_lowercase()),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Esc => Key::Quit,
        _ => return None,
    })
}

/// Header (2 lines), the table (its title row, then the rows that fit), footer.
fn draw(f: &mut Frame, model: &mut Model) {
    let area = f.area();
    let [head, table, foot] = ratatui::layout::Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let header: Vec<Line> = model.header().into_iter().map(Line::from).collect();
    f.render_widget(Paragraph::new(header), head);

    let shown = model.visible(usize::from(table.height.saturating_sub(1)));
    let rows = &model.rows()[shown.clone()];
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40) as u16;
    // The last line takes what is left.
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let title = Row::new(COLUMNS).style(Style::new().add_modifier(Modifier::REVERSED));
    let body = rows.iter().map(|r| Row::new(cells(r)));
    let table_widget = Table::new(body, widths).header(title).column_spacing(1);
    f.render_widget(table_widget, table);
    f.render_widget(Paragraph::new(model.footer(&shown)), foot);
}
