using Vigil.Rules.Api;
using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>
/// Owns the running rule set: loads and reloads rule files (a bad file keeps its last good rules running),
/// evaluates each group on its interval from <see cref="TimeProvider"/> timers, keeps alert state per instance
/// (persisted in <c>&lt;dataDir&gt;/alerts.db</c>), and answers the rules, alerts and explain API. With a data
/// directory, every transition is journaled in the same commit as the state it leads to and handed to the sink from
/// that journal, in order, until the sink takes it — across crashes and restarts (decision 007).
/// </summary>
public sealed class RuleManager : IDisposable, IAsyncDisposable
{
    private const int RelayBatch = 256;

    private readonly RuleManagerOptions _options;
    private readonly IWindowReader _reader;
    private readonly TimeProvider _time;
    private readonly IAlertTransitionSink? _sink;
    private readonly RuleEvaluator _evaluator;
    private readonly AlertStateStore? _store;
    private readonly Lock _reloadLock = new();
    private readonly Lock _relayLock = new();
    private readonly List<AlertTransition> _uncommittedOrphans = [];
    private volatile bool _relayDue = true;
    private readonly Dictionary<string, RuleFile> _lastGood = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<RuleGroupRunner> _runners = [];
    private bool _restored;
    private bool _started;
    private bool _disposed;

    public RuleManager(RuleManagerOptions options, IWindowReader reader, TimeProvider timeProvider, IAlertTransitionSink? sink = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid rule manager options: " + string.Join("; ", problems), nameof(options));
        }

        _options = options;
        _reader = reader;
        _time = timeProvider;
        _sink = sink;
        _evaluator = new RuleEvaluator(reader);
        _store = options.DataDirectory is { } dir ? new AlertStateStore(dir) : null;
    }

    /// <summary>The last reload's outcome (null before the first); its <see cref="RuleReloadResult.Error"/> is the API's reload error.</summary>
    public RuleReloadResult? LastReload { get; private set; }

    /// <summary>Why the sink last refused a journaled transition (null once it has taken them all); it is offered again on the next evaluation.</summary>
    public string? LastRelayError { get; private set; }

    /// <summary>Test seam: the state store, to inject faults around its commits.</summary>
    internal AlertStateStore? Store => _store;

    /// <summary>
    /// Raised after every group evaluation (timer or direct), outside the group's lock, with what it recorded and the
    /// group's active alerts. A handler that throws does not stop the evaluation; keep handlers short.
    /// </summary>
    public event Action<GroupEvaluation>? Evaluated;

    /// <summary>The groups running now.</summary>
    public IReadOnlyList<RuleGroup> Groups => _runners.Select(r => r.Group).ToList();

    /// <summary>
    /// Loads every rule file again. Files with problems keep their last good rules; instances of unchanged rules
    /// (same group, alert name and definition) keep their state; instances of removed or changed rules resolve.
    /// The first call also restores alert state persisted by a previous run.
    /// </summary>
    public RuleReloadResult Reload()
    {
        lock (_reloadLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var problems = new List<RuleProblem>();
            var files = LoadFiles(problems);
            var aggregates = files.SelectMany(f => f.Groups).SelectMany(g => g.Aggregates)
                .GroupBy(a => a.Record, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            var runners = files.SelectMany(f => f.Groups)
                .Select(g => new RuleGroupRunner(g, _evaluator, aggregates, _time, _options.ResolvedRetention))
                .ToList();

            var transitions = new List<AlertTransition>();
            var now = _time.GetUtcNow();
            if (!_restored)
            {
                Restore(runners, transitions, now);
                _restored = true;
            }
            else
            {
                CarryOver(_runners, runners, transitions, now);
            }

            var old = _runners;
            _runners = runners;
            foreach (var runner in old)
            {
                runner.Timer?.Dispose();
            }

            try
            {
                CommitReload(old, runners, transitions);
            }
            finally
            {
                // A failed commit keeps its transitions for the next one; the groups keep being evaluated.
                if (_started)
                {
                    StartTimers();
                }
            }

            LastReload = new RuleReloadResult(now, problems, runners.Count, runners.Sum(r => r.Alerts.Count), runners.Sum(r => r.Aggregates.Count));
            return LastReload;
        }
    }

    /// <summary>Starts one timer per group; each evaluates at once and then every group interval.</summary>
    public void Start()
    {
        lock (_reloadLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (LastReload is null)
            {
                Reload();
            }

            _started = true;
            StartTimers();
        }
    }

    public void Stop()
    {
        lock (_reloadLock)
        {
            _started = false;
            foreach (var runner in _runners)
            {
                runner.Timer?.Dispose();
                runner.Timer = null;
            }
        }
    }

    /// <summary>Evaluates every group at <paramref name="now"/> (what the timers do, callable directly for tests and tools).</summary>
    public Task<IReadOnlyList<AlertTransition>> EvaluateAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var all = new List<AlertTransition>();
        foreach (var runner in _runners)
        {
            cancellationToken.ThrowIfCancellationRequested();
            all.AddRange(EvaluateRunner(runner, now, wait: true));
        }

        return Task.FromResult<IReadOnlyList<AlertTransition>>(all);
    }

    /// <summary>Evaluates one group at <paramref name="now"/>.</summary>
    public Task<IReadOnlyList<AlertTransition>> EvaluateGroupAsync(string group, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var runner = _runners.FirstOrDefault(r => r.Group.Name == group) ?? throw new ArgumentException($"no rule group '{group}'", nameof(group));
        return Task.FromResult(EvaluateRunner(runner, now, wait: true));
    }

    /// <summary>The state of every instance of an alert rule (inactive ones included), by group-by labels.</summary>
    public IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, AlertInstanceState State)> GetInstances(string group, string alert)
    {
        var (runner, runtime) = Find(group, alert);
        lock (runner.Gate)
        {
            return runtime.Instances.Values.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => (i.Labels, i.State)).ToList();
        }
    }

    /// <summary><c>GET /api/v1/rules</c>: <c>ApiResponse.Success(manager.GetRules())</c>.</summary>
    public RuleDiscovery GetRules()
    {
        var groups = new List<RuleGroupInfo>();
        foreach (var runner in _runners)
        {
            lock (runner.Gate)
            {
                var rules = new List<RuleInfo>();
                foreach (var a in runner.Aggregates)
                {
                    rules.Add(new RecordingRuleInfo(a.Rule.Record, a.Rule.Query, LabelSet.Sorted(a.Rule.Labels), a.Health, a.LastError,
                        a.EvaluationTime.TotalSeconds, a.LastEvaluation, PromDuration.Format(a.Rule.Window)));
                }

                foreach (var r in runner.Alerts)
                {
                    var alerts = ActiveAlerts(r).ToList();
                    rules.Add(new AlertingRuleInfo(r.Rule.Name, r.Rule.Query, AlertingRuleInfo.StateOf(alerts), r.Rule.For.TotalSeconds, r.Rule.KeepFiringFor.TotalSeconds,
                        LabelSet.Sorted(r.Rule.Labels), RuleAnnotations(r.Rule), alerts, r.Health, r.LastError, r.EvaluationTime.TotalSeconds,
                        r.LastEvaluation, r.Rule.Severity.ToString(), r.Rule.RunbookUrl, r.Rule.Threshold.ToString(), PromDuration.Format(r.Rule.Window)));
                }

                groups.Add(new RuleGroupInfo(runner.Group.Name, runner.Group.File, rules, runner.Group.Interval.TotalSeconds, 0,
                    runner.EvaluationTime.TotalSeconds, runner.LastEvaluation, runner.QueryOffset.TotalSeconds));
            }
        }

        return new RuleDiscovery(groups);
    }

    /// <summary><c>GET /api/v1/alerts</c>: every pending and firing instance.</summary>
    public AlertDiscovery GetAlerts()
    {
        var alerts = new List<AlertInfo>();
        foreach (var runner in _runners)
        {
            lock (runner.Gate)
            {
                alerts.AddRange(runner.Alerts.SelectMany(ActiveAlerts));
            }
        }

        return new AlertDiscovery(alerts);
    }

    /// <summary>The latest values of every recorded aggregate.</summary>
    public IReadOnlyList<RecordedSample> GetRecorded()
    {
        var result = new List<RecordedSample>();
        foreach (var runner in _runners)
        {
            lock (runner.Gate)
            {
                foreach (var a in runner.Aggregates)
                {
                    result.AddRange(a.Last.Select(s => new RecordedSample(a.Rule.Record, Merge(a.Rule.Labels, s.Labels), s.Value, s.Samples, a.LastEvaluation)));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Why each instance of <paramref name="alert"/> is or is not firing: reads the window now (without changing
    /// any state) and shows value, samples, guard, effective threshold after overrides, state and reason.
    /// </summary>
    public AlertExplanation Explain(string group, string alert)
    {
        var (runner, runtime) = Find(group, alert);
        var now = _time.GetUtcNow();
        var rule = runtime.Rule;
        var aggregates = _runners.SelectMany(r => r.Group.Aggregates).GroupBy(a => a.Record, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        IReadOnlyList<InstanceObservation> observations;
        try
        {
            observations = _evaluator.Observe(rule, now, aggregates);
        }
        catch (QueryException ex)
        {
            return new AlertExplanation(group, alert, rule.Query, now, "err", ex.Message, []);
        }

        var instances = new List<InstanceExplanation>();
        lock (runner.Gate)
        {
            var keys = observations.Select(o => o.Key).Concat(runtime.Instances.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            foreach (var key in keys)
            {
                var observed = observations.FirstOrDefault(o => o.Key == key);
                runtime.Instances.TryGetValue(key, out var instance);
                var labels = instance?.Labels ?? LabelSet.Sorted(observed!.Labels);
                var state = instance?.State ?? AlertInstanceState.Initial;
                var observation = observed?.Observation ?? Observation.Gone;
                var effective = RuleEvaluator.Resolve(rule, labels);
                var step = AlertStateMachine.Next(state, observation, now, effective);
                var guard = observation.Value is null
                    ? "no data"
                    : observation.Samples < effective.MinSamples
                        ? $"blocked: {AlertTemplate.FormatNumber(observation.Samples)} < min_samples {AlertTemplate.FormatNumber(effective.MinSamples)}"
                        : $"passed: {AlertTemplate.FormatNumber(observation.Samples)} >= min_samples {AlertTemplate.FormatNumber(effective.MinSamples)}";
                instances.Add(new InstanceExplanation(labels, observation.Value, observation.Samples, effective.MinSamples, guard,
                    effective.Threshold.ToString(), effective.Recover?.ToString(), PromDuration.Format(effective.For), effective.Severity.ToString(),
                    effective.Override is { } o ? LabelSet.Sorted(o.Match) : null, AlertStateMachine.Name(state.State), state.ActiveAt, state.FiredAt,
                    step.Reason));
            }
        }

        return new AlertExplanation(group, alert, rule.Query, now, runtime.Health, runtime.LastError, instances);
    }

    public void Dispose()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Stop();
            _store?.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private List<RuleFile> LoadFiles(List<RuleProblem> problems)
    {
        var paths = new List<string>(_options.RuleFiles);
        if (_options.RulesDirectory is { } dir)
        {
            if (Directory.Exists(dir))
            {
                paths.AddRange(Directory.EnumerateFiles(dir, "*", SearchOption.TopDirectoryOnly)
                    .Where(IsRuleFile).Order(StringComparer.Ordinal));
            }
            else
            {
                problems.Add(new RuleProblem(dir, 1, 1, "rules directory does not exist", "create it or point rules.directory at the rule files"));
            }
        }

        var candidates = new Dictionary<string, RuleFile>(StringComparer.Ordinal);
        var loadedOk = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths.Distinct(StringComparer.Ordinal))
        {
            var result = _options.Loader(path, _options.Limits);
            if (result.Ok)
            {
                candidates[path] = result.File;
                loadedOk.Add(path);
            }
            else
            {
                problems.AddRange(result.Problems);
                if (_lastGood.TryGetValue(path, out var good))
                {
                    candidates[path] = good;
                }
            }
        }

        LimitTotal(paths, candidates, loadedOk, problems);
        var cross = RuleSetValidator.Validate(candidates.Values.ToList(), _reader);
        if (cross.Count > 0)
        {
            problems.AddRange(cross);
            foreach (var bad in cross.Select(p => p.File).Distinct(StringComparer.Ordinal))
            {
                loadedOk.Remove(bad);
                if (_lastGood.TryGetValue(bad, out var good) && !ReferenceEquals(good, candidates.GetValueOrDefault(bad)))
                {
                    candidates[bad] = good;
                }
                else
                {
                    candidates.Remove(bad);
                }
            }

            foreach (var still in RuleSetValidator.Validate(candidates.Values.ToList(), _reader).Select(p => p.File).Distinct(StringComparer.Ordinal))
            {
                candidates.Remove(still);
            }
        }

        foreach (var gone in _lastGood.Keys.Where(p => !paths.Contains(p, StringComparer.Ordinal)).ToList())
        {
            _lastGood.Remove(gone);
        }

        foreach (var path in loadedOk)
        {
            _lastGood[path] = candidates[path];
        }

        return paths.Distinct(StringComparer.Ordinal).Where(candidates.ContainsKey).Select(p => candidates[p]).ToList();
    }

    /// <summary>
    /// Keeps the rules under <see cref="RuleLimits.MaxRules"/>. Files count with their last good rules; a file that
    /// loaded with more rules than those joins, in path order, only while the total fits, and otherwise keeps its
    /// last good rules. So a file that grew is refused, never an unchanged file read after it.
    /// </summary>
    private void LimitTotal(List<string> paths, Dictionary<string, RuleFile> candidates, HashSet<string> loadedOk, List<RuleProblem> problems)
    {
        var max = _options.Limits.MaxRules;
        var total = paths.Distinct(StringComparer.Ordinal).Sum(p => _lastGood.TryGetValue(p, out var good) ? RuleCount(good) : 0L);
        foreach (var path in paths.Distinct(StringComparer.Ordinal).Where(loadedOk.Contains))
        {
            var before = _lastGood.TryGetValue(path, out var good) ? RuleCount(good) : 0;
            var loaded = candidates[path];
            var after = total - before + RuleCount(loaded);
            if (after <= max || RuleCount(loaded) <= before)
            {
                total = after;
                continue;
            }

            var firstOver = loaded.Groups.SelectMany(g => g.Alerts.Select(a => a.Position).Concat(g.Aggregates.Select(a => a.Position)))
                .OrderBy(p => p.Line).ThenBy(p => p.Column).ElementAt((int)Math.Max(0, max - (total - before)));
            problems.Add(new RuleProblem(path, firstOver, $"this file would bring the rules to {RuleLimits.Count(after)}, over the limit of {RuleLimits.Count(max)} in total (rules.max_rules)",
                "remove rules or raise rules.max_rules"));
            loadedOk.Remove(path);
            if (good is not null)
            {
                candidates[path] = good;
            }
            else
            {
                candidates.Remove(path);
            }
        }
    }

    private static int RuleCount(RuleFile file) => file.Groups.Sum(g => g.Alerts.Count + g.Aggregates.Count);

    internal static bool IsRuleFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    private static void CarryOver(IReadOnlyList<RuleGroupRunner> oldRunners, List<RuleGroupRunner> newRunners, List<AlertTransition> transitions, DateTimeOffset now)
    {
        // Looked up by name: at the rule limits a reload meets tens of thousands of groups and rules, and a scan per
        // rule made it quadratic (minutes).
        var carried = new HashSet<AlertRuleRuntime>();
        var previousGroups = FirstBy(oldRunners, r => r.Group.Name);
        foreach (var runner in newRunners)
        {
            var previous = previousGroups.GetValueOrDefault(runner.Group.Name);
            if (previous is null)
            {
                continue;
            }

            lock (previous.Gate)
            {
                var previousAlerts = FirstBy(previous.Alerts, a => a.Rule.Name);
                var previousAggregates = FirstBy(previous.Aggregates, a => a.Rule.DefinitionKey);
                foreach (var runtime in runner.Alerts)
                {
                    if (previousAlerts.GetValueOrDefault(runtime.Rule.Name) is { } same && same.Rule.DefinitionKey == runtime.Rule.DefinitionKey)
                    {
                        runtime.Instances = same.Instances;
                        (runtime.Health, runtime.LastError, runtime.LastEvaluation, runtime.EvaluationTime) = (same.Health, same.LastError, same.LastEvaluation, same.EvaluationTime);
                        carried.Add(same);
                    }
                }

                foreach (var aggregate in runner.Aggregates)
                {
                    if (previousAggregates.GetValueOrDefault(aggregate.Rule.DefinitionKey) is { } same)
                    {
                        aggregate.Last = same.Last;
                        (aggregate.Health, aggregate.LastError, aggregate.LastEvaluation) = (same.Health, same.LastError, same.LastEvaluation);
                    }
                }
            }
        }

        var stillThere = newRunners.SelectMany(r => r.Alerts.Select(a => (r.Group.Name, a.Rule.Name))).ToHashSet();
        foreach (var runner in oldRunners)
        {
            lock (runner.Gate)
            {
                foreach (var runtime in runner.Alerts.Where(a => !carried.Contains(a)))
                {
                    var reason = stillThere.Contains((runner.Group.Name, runtime.Rule.Name)) ? "the rule changed; its instances start again" : "the rule was removed";
                    foreach (var instance in runtime.Instances.Values.Where(i => i.State.IsActive))
                    {
                        var to = instance.State.State == AlertState.Firing ? AlertState.Resolved : AlertState.Inactive;
                        var from = instance.State.State;
                        instance.State = instance.State with { State = to, ResolvedAt = to == AlertState.Resolved ? now : null };
                        transitions.Add(runner.BuildTransition(runtime.Rule, instance, instance.Effective ?? EffectiveRule.FromRule(runtime.Rule), from, to, now, reason));
                    }
                }
            }
        }
    }

    private static Dictionary<string, T> FirstBy<T>(IEnumerable<T> items, Func<T, string> key)
    {
        var index = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            index.TryAdd(key(item), item);
        }

        return index;
    }

    private void Restore(List<RuleGroupRunner> runners, List<AlertTransition> transitions, DateTimeOffset now)
    {
        if (_store is null)
        {
            return;
        }

        foreach (var stored in _store.LoadAll())
        {
            var runner = runners.FirstOrDefault(r => r.Group.Name == stored.Group);
            var runtime = runner?.Alerts.FirstOrDefault(a => a.Rule.Name == stored.Alert);
            var labels = LabelSet.Sorted(stored.Labels);
            if (runner is not null && runtime is not null)
            {
                // Restored by group and alert name: a rule edited while Vigil was down re-evaluates its instances
                // under the new definition instead of forgetting a firing alert.
                var instance = new AlertInstance(labels, LabelSet.Key(labels))
                {
                    State = stored.State,
                    Effective = RuleEvaluator.Resolve(runtime.Rule, labels),
                    Reason = "restored from the data directory",
                    Annotations = stored.Annotations,
                };
                runtime.Instances[instance.Key] = instance;
            }
            else if (stored.State.State == AlertState.Firing)
            {
                var alertLabels = LabelSet.Sorted(labels);
                alertLabels["alertname"] = stored.Alert;
                alertLabels["severity"] = stored.Severity.ToString();
                transitions.Add(new AlertTransition(stored.Group, stored.Alert, alertLabels, labels, AlertState.Firing, AlertState.Resolved, now,
                    stored.State.LastValue, stored.State.LastSamples, string.Empty, stored.Severity, stored.RunbookUrl, stored.Annotations,
                    TimeSpan.Zero, stored.State.ActiveAt, stored.State.FiredAt, now, "the rule was removed while Vigil was stopped")
                {
                    Id = AlertTransition.NewId(now),
                });
            }
        }
    }

    private IReadOnlyList<AlertTransition> EvaluateRunner(RuleGroupRunner runner, DateTimeOffset now, bool wait)
    {
        if (wait)
        {
            runner.Gate.Enter();
        }
        else if (!runner.Gate.TryEnter())
        {
            return [];
        }

        List<AlertTransition> transitions;
        var journaled = false;
        GroupEvaluation? evaluated = null;
        try
        {
            transitions = runner.Evaluate(now);
            if (Evaluated is not null)
            {
                evaluated = new GroupEvaluation(
                    runner.Group.Name,
                    now,
                    [.. runner.Aggregates.SelectMany(a => a.Last.Select(s => new RecordedSample(a.Rule.Record, Merge(a.Rule.Labels, s.Labels), s.Value, s.Samples, now - runner.QueryOffset)))],
                    [.. runner.Alerts.SelectMany(ActiveAlerts)]);
            }

            if (_store is not null)
            {
                List<AlertTransition> journal = _sink is null ? [] : [.. runner.Uncommitted, .. transitions];

                try
                {
                    _store.SaveGroup(runner.Group.Name, runner.Snapshot(), journal);
                }
                catch
                {
                    // The state in memory has moved on; its transitions must reach the disk with the next save.
                    runner.Uncommitted.Clear();
                    runner.Uncommitted.AddRange(journal);
                    throw;
                }

                runner.Uncommitted.Clear();
                journaled = journal.Count > 0;
            }
        }
        finally
        {
            runner.Gate.Exit();
        }

        if (evaluated is not null)
        {
            try
            {
                Evaluated?.Invoke(evaluated);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // An observer's failure is its own (remote write counts it); evaluation and delivery go on.
            }
        }

        if (_store is null)
        {
            Publish(transitions);
        }
        else if (journaled || _relayDue)
        {
            Relay();
        }

        return transitions;
    }

    /// <summary>
    /// Commits a reload: every group's state, with the transitions the reload made (and any an earlier failed commit
    /// left), in one transaction; then hands them on. Without a data directory they go straight to the sink.
    /// </summary>
    private void CommitReload(IReadOnlyList<RuleGroupRunner> old, List<RuleGroupRunner> runners, List<AlertTransition> transitions)
    {
        if (_store is null)
        {
            Publish(transitions);
            return;
        }

        var journal = new List<AlertTransition>();
        if (_sink is not null)
        {
            journal.AddRange(_uncommittedOrphans);
            foreach (var runner in old)
            {
                lock (runner.Gate)
                {
                    journal.AddRange(runner.Uncommitted);
                    runner.Uncommitted.Clear();
                }
            }

            journal.AddRange(transitions);
        }

        try
        {
            _store.SaveAll(runners.Select(r => (r.Group.Name, r.Snapshot())), journal);
        }
        catch
        {
            _uncommittedOrphans.Clear();
            foreach (var t in journal)
            {
                var owner = runners.FirstOrDefault(r => r.Group.Name == t.Group);
                (owner?.Uncommitted ?? _uncommittedOrphans).Add(t);
            }

            throw;
        }

        _uncommittedOrphans.Clear();
        Relay();
    }

    /// <summary>
    /// Hands journaled transitions to the sink, oldest first, deleting each batch the sink has taken. The first
    /// refusal stops the pass (a later transition must not overtake it); the next evaluation tries again.
    /// </summary>
    private void Relay()
    {
        if (_store is null || _sink is null)
        {
            return;
        }

        lock (_relayLock)
        {
            _relayDue = false;
            try
            {
                while (true)
                {
                    var batch = _store.ReadJournal(RelayBatch);
                    if (batch.Count == 0)
                    {
                        LastRelayError = null;
                        return;
                    }

                    long? taken = null;
                    try
                    {
                        foreach (var entry in batch)
                        {
                            if (entry.Transition is { } transition)
                            {
                                _sink.OnTransition(transition);
                            }

                            taken = entry.Seq;
                        }
                    }
                    finally
                    {
                        if (taken is { } seq)
                        {
                            _store.Acknowledge(seq);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Still journaled: offered again, in the same order, on the next evaluation or after a restart.
                _relayDue = true;
                LastRelayError = ex.Message;
            }
        }
    }

    private void Publish(List<AlertTransition> transitions)
    {
        if (_sink is null)
        {
            return;
        }

        foreach (var t in transitions)
        {
            _sink.OnTransition(t);
        }
    }

    private void StartTimers()
    {
        foreach (var runner in _runners)
        {
            runner.Timer?.Dispose();
            // Armed only once assigned: the first tick (at once) re-arms it for the next grid instant.
            runner.Timer = _time.CreateTimer(OnTimer, runner, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            runner.Timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private static DateTimeOffset LastEvaluationOf(RuleGroupRunner runner)
    {
        lock (runner.Gate)
        {
            return runner.LastEvaluation;
        }
    }

    /// <summary>
    /// The evaluation time for a tick at <paramref name="now"/>: the latest instant of the group's grid, offset + k ×
    /// interval, where the offset is a hash of the group name modulo the interval (Prometheus' rule). Two Vigils with
    /// the same rules evaluate each group at the same instants whenever they started, so over the same data they agree
    /// on activeAt and startsAt (an HA pair's twin events match); the offsets spread groups over the interval.
    /// </summary>
    public static DateTimeOffset EvaluationSlot(string group, TimeSpan interval, DateTimeOffset now)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(group))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        var ticks = (ulong)interval.Ticks;
        var offset = (long)(hash % ticks);
        var since = now.UtcTicks - offset;
        var into = ((since % interval.Ticks) + interval.Ticks) % interval.Ticks;
        return new DateTimeOffset(now.UtcTicks - into, TimeSpan.Zero);
    }

    private void OnTimer(object? state)
    {
        var runner = (RuleGroupRunner)state!;
        if (!ReferenceEquals(_runners.FirstOrDefault(r => r.Group.Name == runner.Group.Name), runner))
        {
            return;
        }

        var interval = runner.Group.Interval;
        try
        {
            // A timer may fire a hair before its instant; that grid instant is done, so it waits for the next.
            var slot = EvaluationSlot(runner.Group.Name, interval, _time.GetUtcNow());
            if (slot > LastEvaluationOf(runner))
            {
                EvaluateRunner(runner, slot, wait: false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A timer callback has no caller to throw to; the failure is visible on every rule of the group.
            lock (runner.Gate)
            {
                foreach (var runtime in runner.Alerts)
                {
                    (runtime.Health, runtime.LastError) = ("err", ex.Message);
                }
            }
        }
        finally
        {
            // Re-armed from the clock for the next grid instant, so a slow evaluation never shifts the grid.
            var now = _time.GetUtcNow();
            var due = EvaluationSlot(runner.Group.Name, interval, now) + interval - now;
            try
            {
                runner.Timer?.Change(due, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Stopped or reloaded meanwhile: the new timers carry on.
            }
        }
    }

    private (RuleGroupRunner Runner, AlertRuleRuntime Runtime) Find(string group, string alert)
    {
        var runner = _runners.FirstOrDefault(r => r.Group.Name == group) ?? throw new KeyNotFoundException($"no rule group '{group}'");
        var runtime = runner.Alerts.FirstOrDefault(a => a.Rule.Name == alert) ?? throw new KeyNotFoundException($"no alert '{alert}' in group '{group}'");
        return (runner, runtime);
    }

    private static IEnumerable<AlertInfo> ActiveAlerts(AlertRuleRuntime runtime) =>
        runtime.Instances.Values.Where(i => i.State.IsActive).OrderBy(i => i.Key, StringComparer.Ordinal).Select(i =>
        {
            var effective = i.Effective ?? EffectiveRule.FromRule(runtime.Rule);
            return new AlertInfo(RuleGroupRunner.AlertLabels(runtime.Rule, i.Labels, effective.Severity), i.Annotations,
                AlertStateMachine.Name(i.State.State), i.State.ActiveAt, i.State.KeepFiringSince, RuleGroupRunner.FormatValue(i.State.LastValue),
                effective.Severity.ToString(), runtime.Rule.RunbookUrl, effective.Threshold.ToString(), i.State.LastSamples);
        });

    private static IReadOnlyDictionary<string, string> RuleAnnotations(AlertRule rule)
    {
        var annotations = LabelSet.Sorted(rule.Annotations);
        if (rule.Summary is not null)
        {
            annotations["summary"] = rule.Summary;
        }

        if (rule.Description is not null)
        {
            annotations["description"] = rule.Description;
        }

        annotations["runbook_url"] = rule.RunbookUrl;
        return annotations;
    }

    private static IReadOnlyDictionary<string, string> Merge(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var merged = LabelSet.Sorted(a);
        foreach (var (k, v) in b)
        {
            merged[k] = v;
        }

        return merged;
    }
}
