import re,sys,hashlib,collections
def bodies(paths):
    out=collections.Counter(); names={}
    for p in paths:
        s=open(p).read()
        for m in re.finditer(r'\.entry (\S+)\(', s):
            name=m.group(1)
            i=m.start()
            j=s.find('\n}\n', i)
            body=s[i:j+3].replace(name,'FN')
            body=re.sub(r'\.param \.align (\d+) \.b8 FN_param_(\d+)\[\d+\]', r'.param .align \1 .b8 FN_param_\2[N]', body)
            body=re.sub(r'//.*','',body)
            body=re.sub(r'_ZZ\S*?E(\d+)(As|Bs|arows|brows|red|smem4)\b', r'SH_\2', body)
            body=re.sub(r'\$L__BB\d+_', '$L__BBx_', body)
            h=hashlib.sha1(body.encode()).hexdigest()[:12]
            out[h]+=1; names.setdefault(h,[]).append((name,p))
    return out,names
a,an=bodies(sys.argv[1].split(','))
b,bn=bodies(sys.argv[2].split(','))
print('base kernels',sum(a.values()),'new kernels',sum(b.values()))
onlya=a-b; onlyb=b-a
print('only in base',sum(onlya.values()),'only in new',sum(onlyb.values()))
for h in list(onlya)[:10]: print('  base', an[h][0][0][:140])
for h in list(onlyb)[:10]: print('  new ', bn[h][0][0][:140])
