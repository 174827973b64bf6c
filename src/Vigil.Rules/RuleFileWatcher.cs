namespace Vigil.Rules;

/// <summary>
/// Reloads the rules when a *.yaml / *.yml file of the rules directory changes. Editors write a file in
/// several steps (truncate, write, rename), so changes are debounced: one reload after
/// <see cref="RuleManagerOptions.WatchDebounce"/> of quiet.
/// </summary>
public sealed class RuleFileWatcher : IDisposable
{
    private readonly Action _reload;
    private readonly TimeProvider _time;
    private readonly TimeSpan _debounce;
    private readonly FileSystemWatcher _watcher;
    private readonly ITimer _timer;

    /// <param name="directory">The rules directory.</param>
    /// <param name="reload">Called after a debounced change, e.g. <c>() =&gt; manager.Reload()</c>; it should not throw.</param>
    public RuleFileWatcher(string directory, TimeSpan debounce, TimeProvider timeProvider, Action reload)
    {
        _reload = reload;
        _time = timeProvider;
        _debounce = debounce;
        _timer = _time.CreateTimer(_ => _reload(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _watcher = new FileSystemWatcher(directory)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += OnChange;
        _watcher.Created += OnChange;
        _watcher.Deleted += OnChange;
        _watcher.Renamed += (_, e) =>
        {
            if (RuleManager.IsRuleFile(e.FullPath) || RuleManager.IsRuleFile(e.OldFullPath))
            {
                Touch();
            }
        };
    }

    /// <summary>Starts watching the directory and the rule manager's own rules.</summary>
    public static RuleFileWatcher For(RuleManager manager, RuleManagerOptions options, TimeProvider timeProvider) =>
        new(options.RulesDirectory ?? throw new ArgumentException("options.RulesDirectory is required to watch", nameof(options)),
            options.WatchDebounce, timeProvider, () => manager.Reload());

    public void Start() => _watcher.EnableRaisingEvents = true;

    public void Stop() => _watcher.EnableRaisingEvents = false;

    /// <summary>Records a change: the reload happens once no change arrives for the debounce time.</summary>
    public void Touch() => _timer.Change(_debounce, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }

    private void OnChange(object sender, FileSystemEventArgs e)
    {
        if (RuleManager.IsRuleFile(e.FullPath))
        {
            Touch();
        }
    }
}
