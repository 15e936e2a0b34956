# ruff: noqa: E501 - one lexicon fragment per line reads better than wrapped fragments
"""Impact lexicons in six languages: the phrases LABELLING.md says decide severity, as named signals.

The word and character n-grams learn what the seed corpus shows them; for a
language with a few dozen messages that is not enough to learn that "niemand
kann sich anmelden" is the German for "nobody can log in". These lexicons,
written by hand for English, German, French, Spanish, Dutch and Portuguese,
carry the same impact concept across languages: each concept is one signal
column, whatever the language that fired it, so a weight learned mostly on
English mail applies to a Dutch one.

Each entry is a regular-expression fragment matched on the lower-cased text
between word boundaries. Fragments are short and literal-led; every concept
is gated: each fragment names (read from its top-level literals) a word or a
substring every match contains, and its regular expression runs only on a
message that has it, so a message costs one set of its words and a few
searches, whatever the size of the lexicons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CONCEPTS", "LANGUAGES", "LEXICONS", "Concept", "compiled"]

LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "nl", "pt")

# concept -> language -> fragments
LEXICONS: dict[str, dict[str, tuple[str, ...]]] = {
    "nobody_access": {
        "en": (
            r"(?:nobody|no one|no-one|none of (?:us|our users|the users)) (?:can|could|is able to) "
            r"(?:log ?in|log on|sign ?in|access|get in|connect|open|use)",
            r"(?:all|every|everyone|everybody)(?: \w+){0,2} (?:is |are |got |has been |have been )?locked out",
            r"(?:nobody|no one) has (?:access|been able)",
        ),
        "de": (
            r"(?:niemand|keiner|kein (?:benutzer|nutzer|mitarbeiter)\w*) (?:kann|konnte|kommt|kommen) "
            r"(?:sich |mehr |noch |uns )*(?:an|ein|rein|drauf|zugreifen|anmelden|einloggen|arbeiten)",
            r"alle (?:benutzer|nutzer|mitarbeiter|kollegen|anwender)\w* (?:sind |wurden )?(?:ausgesperrt|abgemeldet)",
            r"anmeldung (?:ist )?(?:für alle|bei allen) (?:nicht )?(?:möglich|gesperrt|fehlgeschlagen)",
            r"(?:kann|können|konnte) sich (?:\w+ ){0,3}?(?:niemand|keiner|kein \w+) (?:mehr |noch )?(?:anmelden|einloggen|verbinden)",
        ),
        "fr": (
            r"personne ne (?:peut|arrive à|parvient à) (?:plus )?(?:se connecter|accéder|travailler|ouvrir)",
            r"aucun (?:utilisateur|collaborateur|employé|agent)s? ne (?:peut|arrive)",
            r"tous les (?:utilisateurs|collaborateurs|employés) (?:sont )?(?:bloqués|déconnectés)",
            r"impossible (?:de se connecter|d'accéder) pour tous",
        ),
        "es": (
            r"nadie (?:puede|consigue|logra) (?:iniciar sesión|entrar|acceder|conectarse|trabajar|usar)",
            r"ningún (?:usuario|empleado|agente) (?:puede|consigue)",
            r"todos los (?:usuarios|empleados) (?:están )?bloqueados",
        ),
        "nl": (
            r"niemand kan (?:meer |nog )?(?:inloggen|aanmelden|erin|werken|bij)",
            r"geen enkele (?:gebruiker|medewerker) kan",
            r"alle (?:gebruikers|medewerkers) (?:zijn )?(?:buitengesloten|geblokkeerd)",
        ),
        "pt": (
            r"ninguém (?:consegue|pode) (?:entrar|aceder|acessar|fazer login|iniciar sessão|trabalhar|usar)",
            r"nenhum (?:utilizador|usuário|funcionário|colaborador) (?:consegue|pode)",
            r"todos os (?:utilizadores|usuários|funcionários) (?:estão )?bloqueados",
        ),
    },
    "cannot_login": {
        "en": (
            r"(?:can't|cannot|can not|unable to|couldn't) (?:log ?in|sign ?in|log on|access (?:the|our|it))",
        ),
        "de": (r"(?:nicht|nicht mehr|gar nicht) (?:mehr )?(?:anmelden|einloggen|einwählen)",),
        "nl": (r"niet (?:meer )?(?:inloggen|aanmelden|bij het|erin)",),
        "es": (
            r"no (?:pueden|podemos|puede|consiguen|conseguimos) (?:iniciar sesión|entrar|acceder|conectarse|loguearse)",
        ),
        "pt": (
            r"não (?:conseguem|conseguimos|consegue|podem|podemos) (?:entrar|aceder|acessar|fazer login|iniciar sessão|autenticar)",
        ),
        "fr": (
            r"impossible de (?:se connecter|nous connecter|me connecter|s'identifier)",
            r"(?:ne peuvent|n'arrivent) plus (?:à )?(?:se connecter|accéder)",
        ),
    },
    "service_down": {
        "en": (
            r"(?:5\d\d|timeout|timed out) (?:on|for) (?:all|every)",
            r"not (?:accepting|receiving|arriving|reaching|processing|sending|printing|starting|loading) (?:any|anything)",
            r"(?:nothing|no \w+) (?:is )?(?:arriving|getting through|coming in|going out)",
            r"(?:is|are|went|has gone|completely|totally|entirely) down",
            r"(?:full|complete|total|major) outage",
            r"nothing (?:works|is working|loads)",
            r"(?:service|site|platform|system|application|app|portal) (?:is )?(?:unavailable|unreachable)",
            r"(?:5\d\d|bad gateway|service unavailable) (?:on|for) (?:every|all)",
            r"(?:won't|will not|does not|doesn't|cannot|can't) (?:start|boot|open|load) at all",
        ),
        "de": (
            r"(?:kommt|kommen|geht|gehen) (?:nichts|keine \w+) mehr",
            r"hängt (?:bei|beim|überall)",
            r"(?:komplett |völlig |total |vollständig )?ausgefallen",
            r"totalausfall",
            r"(?:geht|funktioniert|läuft) (?:gar |überhaupt )?nichts mehr",
            r"(?:nicht|nicht mehr) erreichbar",
            r"steht (?:komplett |völlig )?still",
            r"stillstand",
            r"startet (?:gar |überhaupt )?nicht mehr",
        ),
        "fr": (
            r"(?:ne fonctionne|ne marche|ne répond) plus",
            r"(?:plus aucun|aucun) \w+ (?:ne )?(?:passe|arrive|fonctionne)",
            r"en panne",
            r"hors service",
            r"plus rien ne (?:fonctionne|marche)",
            r"(?:totalement |complètement )?(?:inaccessible|indisponible)s?",
            r"panne (?:totale|générale|complète)",
            r"ne (?:démarre|démarrent|s'ouvre|s'ouvrent) plus",
            r"à l'arrêt",
        ),
        "es": (
            r"(?:ya )?no (?:responde|funciona|llega|carga)",
            r"(?:ningún|ninguna) \w+ (?:llega|funciona)",
            r"(?:está|están|se ha|se han) caíd[oa]s?",
            r"caída (?:total|general|completa)",
            r"no funciona nada",
            r"fuera de servicio",
            r"(?:no está|no están) disponibles?",
            r"inaccesibles?",
            r"no (?:arranca|arrancan|inicia|inician|abre|abren|carga|cargan)",
            r"(?:totalmente |completamente )?parad[oa]s?",
        ),
        "nl": (
            r"(?:komt|komen) (?:niets|geen \w+) (?:meer )?(?:binnen|door)",
            r"hangt (?:bij|op)",
            r"(?:reageert|werkt) niet meer",
            r"ligt (?:er |volledig |helemaal |compleet )*plat",
            r"(?:volledige |totale |grote )?storing",
            r"(?:is |zijn )?(?:onbereikbaar|niet bereikbaar)",
            r"werkt (?:helemaal |echt )?niets meer",
            r"(?:start|starten|opent|openen) niet meer",
            r"(?:ligt|liggen) stil",
        ),
        "pt": (
            r"(?:não|nenhum \w+) (?:chegou|chega|responde|funciona)",
            r"responde 5\d\d",
            r"fora do ar",
            r"(?:está|estão) em baixo",
            r"(?:totalmente |completamente )?(?:inacessível|indisponível|inacessíveis|indisponíveis)",
            r"nada funciona",
            r"(?:não arranca|não arrancam|não inicia|não iniciam|não abre|não abrem)",
            r"(?:totalmente |completamente )?parad[oa]s?",
            r"paragem (?:total|completa)",
        ),
    },
    "production": {
        "en": (
            r"in production",
            r"production (?:system|environment|instance|tenant|server|site)",
            r"live (?:site|system|shop|store)",
        ),
        "de": (r"produktiv\w*", r"produktion\w*", r"live-?(?:system|umgebung|betrieb)", r"echtbetrieb"),
        "fr": (r"(?:en|de) production", r"environnement de prod\w*", r"site en ligne"),
        "es": (r"(?:en|de) producción", r"entorno (?:de )?producción", r"sistema en vivo"),
        "nl": (r"productie\w*", r"live-?omgeving", r"live systeem"),
        "pt": (r"(?:em|de) produção", r"ambiente de produção", r"produtivo"),
    },
    "test_env": {
        "en": (
            r"(?:test|staging|uat|sandbox|dev|development|qa) (?:environment|system|instance|tenant|server|site)",
            r"staging",
            r"sandbox",
        ),
        "de": (
            r"test\w*(?:system|umgebung|instanz|mandant|server)",
            r"staging",
            r"entwicklungsumgebung",
            r"abnahmeumgebung",
        ),
        "fr": (
            r"environnement de (?:test|recette|préproduction|développement)",
            r"(?:en|de) recette",
            r"préprod\w*",
        ),
        "es": (
            r"entorno de (?:pruebas|test|desarrollo|preproducción)",
            r"(?:servidor|sistema) de pruebas",
            r"preproducción",
        ),
        "nl": (r"test\w*omgeving", r"acceptatie\w*", r"ontwikkelomgeving"),
        "pt": (r"ambiente de (?:teste|testes|homologação|desenvolvimento|qualidade)", r"homologação"),
    },
    "data_loss": {
        "en": (
            r"(?:paid|charged|booked|sent|posted|debited|submitted) twice",
            r"(?:double|duplicate)[ds]? (?:payments?|charges?|bookings?|orders?|invoices?|transfers?)",
            r"(?:in )?clear ?text",
            r"(?:dates|amounts|balances|totals|prices) (?:are |were )?(?:swapped|wrong|changed|zero)",
            r"data (?:is |was |has been |have been |got )?(?:lost|gone|deleted|wiped|corrupted|overwritten)",
            r"(?:lost|losing|lose) (?:all|every|our|the|data|records|orders|bookings|reservations)",
            r"silently (?:wrong|dropped|deleted|overwritten|lost|missing|skipped|corrupt\w*)",
            r"(?:wrong|incorrect) (?:amounts|figures|totals|values|balances) (?:in|for) (?:every|all)",
            r"(?:records|orders|invoices|entries|bookings|reservations|files) (?:have |are |were )?(?:vanished|disappeared|missing|gone)",
        ),
        "de": (
            r"doppelt",
            r"zweimal (?:gebucht|überwiesen|abgebucht|gesendet|ausgeführt)",
            r"(?:im )?klartext",
            r"daten (?:sind |wurden |waren )?(?:weg|verloren|gelöscht|beschädigt|überschrieben|verschwunden|fehlerhaft)",
            r"datenverlust",
            r"(?:gelöscht|überschrieben|verschwunden|verloren gegangen)",
            r"falsche (?:beträge|werte|summen|salden)",
            r"doppelt (?:gebucht|überwiesen|abgebucht|ausgezahlt)",
        ),
        "fr": (
            r"en double",
            r"deux fois",
            r"en clair",
            r"données (?:ont été |sont )?(?:perdues|supprimées|corrompues|effacées|écrasées|disparues)",
            r"perte de données",
            r"(?:ont |a |sont |est )?(?:disparu|disparues|effacées|écrasées|supprimées)",
            r"montants (?:faux|erronés|incorrects)",
        ),
        "es": (
            r"duplicad[oa]s?",
            r"dos veces",
            r"en texto (?:plano|claro)",
            r"datos (?:se han |han sido |fueron )?(?:perdidos|borrados|corruptos|dañados|eliminados|sobrescritos|perdido)",
            r"pérdida de datos",
            r"(?:han desaparecido|desaparecieron|se han borrado|se han perdido|se perdieron)",
            r"importes (?:erróneos|incorrectos)",
        ),
        "nl": (
            r"dubbel (?:betaald|overgemaakt|geboekt|verstuurd|uitgevoerd|afgeschreven)",
            r"twee keer",
            r"leeg(?:gemaakt)?",
            r"omgedraaid",
            r"(?:gegevens|data) (?:zijn |is |werden )?(?:kwijt|verloren|verdwenen|overschreven|gewist|beschadigd)",
            r"dataverlies",
            r"(?:verdwenen|overschreven|gewist|kwijtgeraakt)",
            r"verkeerde bedragen",
        ),
        "pt": (
            r"em duplicado",
            r"duas vezes",
            r"(?:trocad[oa]s|invertid[oa]s)",
            r"nada existe",
            r"dados (?:foram |estão |ficaram )?(?:perdidos|apagados|corrompidos|eliminados|sobrescritos)",
            r"perda de dados",
            r"(?:desapareceram|desapareceu|foram apagad[oa]s|perderam-se|se perderam)",
            r"valores (?:errados|incorretos)",
        ),
    },
    "all_users": {
        "en": (
            r"every (?:single )?\w+",
            r"all \d[\d,.]* \w+",
            r"none of (?:the|our) \w+",
            r"not a single \w+",
            r"any (?:of (?:the|our) )?(?:users|staff|customers|e-tickets|orders|payments|cards|devices|tills)",
            r"(?:all|every one of) (?:our |the |\d+ )?(?:users|staff|employees|customers|agents|stores|shops|sites|branches|tills|locations|clinics|warehouses)",
            r"every (?:user|store|shop|till|site|branch|employee|customer|location|single)",
            r"(?:whole|entire) (?:company|organisation|organization|team|office|business|site)",
            r"company[- ]wide",
            r"everyone|everybody",
        ),
        "de": (
            r"kein(?:e|er|en)? (?:einzige\w*|\w+ mehr)",
            r"alle \w+",
            r"überall",
            r"komplette\w* \w+",
            r"alle (?:\d+ )?(?:benutzer|nutzer|mitarbeiter|kunden|filialen|standorte|kassen|anwender|kollegen|geschäfte|märkte)\w*",
            r"sämtliche \w+",
            r"(?:ganze|gesamte) (?:firma|unternehmen|belegschaft|team|standort|büro)",
            r"jede(?:r|s|n)? (?:einzelne|benutzer|kasse|filiale|mitarbeiter)\w*",
            r"niemand|keiner",
        ),
        "fr": (
            r"aucune? \w+",
            r"tou(?:s|tes) (?:les|nos) \w+",
            r"plus aucune? \w+",
            r"tou(?:s|tes) (?:les|nos) (?:\d+ )?(?:utilisateurs|employés|collaborateurs|clients|magasins|boutiques|sites|agences|caisses)",
            r"toute l'(?:entreprise|équipe|organisation|agence)",
            r"chaque (?:utilisateur|magasin|caisse|site|client)",
            r"personne ne",
            r"tout le monde",
        ),
        "es": (
            r"ningun[oa]? \w+",
            r"tod(?:os|as) (?:los|las|nuestros|nuestras) \w+",
            r"tod(?:os|as) (?:los|las|nuestros|nuestras) (?:\d+ )?(?:usuarios|empleados|clientes|tiendas|cajas|sucursales|sedes|locales|agentes)",
            r"toda la (?:empresa|organización|oficina|plantilla)",
            r"cada (?:usuario|tienda|caja|sucursal)",
            r"nadie",
            r"todo el mundo",
        ),
        "nl": (
            r"geen enkele \w+",
            r"(?:ons |onze )?hele \w+",
            r"allemaal",
            r"alle \w+",
            r"alle (?:\d+ )?(?:gebruikers|medewerkers|klanten|winkels|kassa's|kassas|vestigingen|filialen|locaties)",
            r"(?:hele|gehele|volledige) (?:bedrijf|organisatie|team|kantoor)",
            r"iedere? (?:gebruiker|winkel|kassa|vestiging)",
            r"iedereen|niemand",
        ),
        "pt": (
            r"nenhum[a]? \w+",
            r"tod(?:os|as) (?:os|as|nossos|nossas) \w+",
            r"tod(?:os|as) (?:os|as|nossos|nossas) (?:\d+ )?(?:utilizadores|usuários|funcionários|colaboradores|clientes|lojas|caixas|filiais|balcões)",
            r"toda a (?:empresa|organização|equipa|equipe)",
            r"cada (?:utilizador|usuário|loja|caixa)",
            r"ninguém",
            r"toda a gente|todo mundo",
        ),
    },
    "no_workaround": {
        "en": (
            r"no (?:workaround|work-around|way around|alternative|fallback|manual process)",
            r"(?:there is|there's|we have) no (?:workaround|way to|alternative)",
            r"(?:completely|totally) (?:stuck|blocked|stopped)",
            r"(?:cannot|can't|unable to) (?:work|trade|operate|sell|ship|take orders)",
        ),
        "de": (
            r"kein(?:e|en)? (?:workaround|umgehung\w*|alternative|ausweichmöglichkeit|notlösung)",
            r"nicht (?:umgehen|arbeiten|verkaufen|ausliefern)",
            r"(?:komplett|völlig) blockiert",
        ),
        "fr": (
            r"(?:aucun|pas de) (?:contournement|workaround|moyen|plan b)",
            r"aucune (?:solution|alternative)(?: de contournement)?",
            r"(?:impossible|pas possible) de (?:travailler|vendre|facturer|expédier|encaisser)",
            r"(?:totalement|complètement) bloqués?",
        ),
        "es": (
            r"(?:no hay|sin|ninguna) (?:solución alternativa|alternativa|forma de|manera de|workaround)",
            r"no (?:podemos|pueden) (?:trabajar|vender|facturar|cobrar|operar)",
            r"(?:totalmente|completamente) bloqueados?",
        ),
        "nl": (
            r"geen (?:workaround|alternatief|omweg|noodoplossing|manier)",
            r"(?:kunnen|kan) (?:niet|niets) (?:werken|verkopen|afrekenen|leveren)",
            r"(?:volledig|helemaal) geblokkeerd",
        ),
        "pt": (
            r"(?:não há|sem|nenhuma) (?:alternativa|solução alternativa|forma de|maneira de|workaround)",
            r"não (?:conseguimos|podemos) (?:trabalhar|vender|faturar|facturar|operar)",
            r"(?:totalmente|completamente) bloqueados?",
        ),
    },
    "workaround": {
        "en": (
            r"(?:a |the |our |temporary )?workaround",
            r"for now we",
            r"in the meantime",
            r"doing it manually",
            r"(?:clumsy|slow|manual) but",
        ),
        "de": (
            r"behelfen uns",
            r"workaround",
            r"umgehungslösung",
            r"manuell",
            r"vorerst",
            r"übergangsweise",
            r"notlösung",
        ),
        "fr": (r"contournement", r"manuellement", r"en attendant", r"provisoirement", r"à la main"),
        "es": (r"solución temporal", r"manualmente", r"mientras tanto", r"provisionalmente", r"a mano"),
        "nl": (
            r"handmatig",
            r"voorlopig",
            r"tijdelijke oplossing",
            r"noodoplossing",
            r"omweg",
            r"met de hand",
        ),
        "pt": (
            r"solução temporária",
            r"manualmente",
            r"por enquanto",
            r"entretanto",
            r"provisoriamente",
            r"à mão",
        ),
    },
    "limited": {
        "en": (
            r"(?:some|a few|several|two|three|one|a couple of) (?:users|people|colleagues|customers|of our users)",
            r"only (?:one|some|a few)",
            r"intermittent\w*",
            r"now and then",
        ),
        "de": (
            r"(?:einige|ein paar|wenige|zwei|drei|einzelne) (?:benutzer|nutzer|mitarbeiter|kollegen|kunden|anwender)\w*",
            r"(?:nur|lediglich) (?:ein|eine|einen|einige|bei)",
            r"sporadisch",
            r"vereinzelt",
            r"manchmal",
            r"ab und zu",
        ),
        "fr": (
            r"(?:certains|quelques|deux|trois) (?:utilisateurs|collaborateurs|clients|collègues)",
            r"(?:un seul|une seule)",
            r"parfois",
            r"de temps en temps",
            r"intermittent\w*",
        ),
        "es": (
            r"(?:algunos|unos pocos|dos|tres) (?:usuarios|empleados|clientes|compañeros)",
            r"(?:solo|sólo) (?:un|una|algunos)",
            r"a veces",
            r"de vez en cuando",
            r"intermitente\w*",
        ),
        "nl": (
            r"(?:sommige|enkele|een paar|twee|drie) (?:gebruikers|medewerkers|klanten|collega's)",
            r"(?:alleen|slechts) (?:een|één|bij)",
            r"soms",
            r"af en toe",
            r"sporadisch",
        ),
        "pt": (
            r"(?:alguns|poucos|dois|três) (?:utilizadores|usuários|funcionários|clientes|colegas)",
            r"(?:apenas|só) (?:um|uma|alguns)",
            r"às vezes",
            r"por vezes",
            r"de vez em quando",
            r"intermitente\w*",
        ),
    },
    "security": {
        "en": (
            r"ransomware",
            r"(?:data )?breach",
            r"compromised",
            r"unauthori[sz]ed (?:access|login|logins|transfers?)",
            r"exfiltrat\w*",
            r"attackers?",
            r"malware",
            r"being exploited",
            r"actively exploit\w*",
        ),
        "de": (
            r"angriff\w*",
            r"gehackt",
            r"kompromittiert",
            r"unbefugt\w*",
            r"datenleck",
            r"verschlüsselungstrojaner",
            r"schadsoftware",
            r"erpressung\w*",
            r"unberechtigt\w* zugriff\w*",
        ),
        "fr": (
            r"piraté\w*",
            r"compromis",
            r"intrusion",
            r"fuite de données",
            r"accès non autorisés?",
            r"attaque",
            r"rançongiciel",
            r"logiciel malveillant",
        ),
        "es": (
            r"hackead[oa]s?",
            r"comprometid[oa]s?",
            r"intrusión",
            r"fuga de datos",
            r"accesos? no autorizados?",
            r"ataque",
            r"secuestro de datos",
            r"malware",
        ),
        "nl": (
            r"gehackt",
            r"gecompromitteerd",
            r"datalek",
            r"onbevoegde toegang",
            r"ongeautoriseerde toegang",
            r"aanval",
            r"inbraak",
            r"gijzelsoftware",
        ),
        "pt": (
            r"invadid[oa]s?",
            r"comprometid[oa]s?",
            r"fuga de dados",
            r"vazamento de dados",
            r"acessos? não autorizados?",
            r"ataque",
            r"malware",
        ),
    },
    "howto": {
        "en": (
            r"how (?:do|can|should) (?:i|we)",
            r"is (?:it|there a way) possible",
            r"is there a way",
            r"quick question",
            r"where (?:do|can) i find",
        ),
        "de": (
            r"wie kann (?:ich|man)",
            r"wo (?:finde|kann) ich",
            r"gibt es (?:eine möglichkeit|einen weg)",
            r"kurze frage",
            r"ist es möglich",
        ),
        "fr": (
            r"comment (?:faire|puis-je|peut-on|est-ce que)",
            r"est-il possible",
            r"est-ce possible",
            r"où (?:trouver|se trouve)",
            r"petite question",
        ),
        "es": (
            r"cómo (?:puedo|podemos|se)",
            r"es posible",
            r"dónde (?:puedo|está|se)",
            r"una pregunta",
            r"hay (?:alguna|una) (?:forma|manera)",
        ),
        "nl": (
            r"hoe (?:kan|kunnen) (?:ik|we|je)",
            r"is het mogelijk",
            r"waar (?:vind|kan) ik",
            r"korte vraag",
            r"is er een manier",
        ),
        "pt": (
            r"como (?:posso|podemos|se)",
            r"é possível",
            r"onde (?:posso|fica|está)",
            r"uma dúvida",
            r"pergunta rápida",
            r"há (?:alguma|uma) forma",
        ),
    },
    "request": {
        "en": (
            r"feature request",
            r"would be (?:nice|great|helpful|useful)",
            r"please add",
            r"it would help",
            r"we would love",
        ),
        "de": (
            r"wäre (?:schön|toll|hilfreich|praktisch|super)",
            r"(?:wünschen|wünsche) (?:uns|mir)",
            r"feature-?wunsch",
            r"verbesserungsvorschlag",
            r"vorschlag",
        ),
        "fr": (
            r"serait (?:bien|pratique|utile|génial)",
            r"suggestion",
            r"(?:pourriez|pouvez)-vous ajouter",
            r"nous aimerions",
            r"demande d'évolution",
        ),
        "es": (
            r"sería (?:útil|genial|práctico|bueno)",
            r"sugerencia",
            r"(?:podrían|pueden) añadir",
            r"nos gustaría",
            r"propuesta de mejora",
        ),
        "nl": (
            r"zou (?:fijn|handig|mooi|prettig) zijn",
            r"suggestie",
            r"(?:kunnen jullie|graag) (?:toevoegen|een optie)",
            r"zouden graag",
            r"verbetervoorstel",
        ),
        "pt": (
            r"seria (?:útil|ótimo|bom|prático)",
            r"sugestão",
            r"(?:poderiam|podem) adicionar",
            r"gostaríamos",
            r"pedido de melhoria",
        ),
    },
}

CONCEPTS: tuple[str, ...] = tuple(LEXICONS)

_START, _GAP = "\x01", "\x00"  # the fragment's own edges (word boundaries) and non-literal parts


def _anchor(fragment: str) -> tuple[str | None, str | None]:
    """(a whole word every match contains, else a substring every match contains), for gating.

    Read from the fragment's top level with Python's own regex parser: literal
    characters there occur in every match. A word bounded by the fragment's edges
    or by literal non-word characters is a whole ``\\w+`` token of the text.
    """
    from re import _parser  # type: ignore[attr-defined]

    chars = [_START]
    for op, value in _parser.parse(fragment):
        chars.append(chr(value) if op is _parser.LITERAL else _GAP)
    chars.append(_START)
    text = "".join(chars)
    words = []
    for match in re.finditer(r"[^\W_]+", text.replace(_GAP, "\x02").replace(_START, "\x03")):
        left, right = text[match.start() - 1], text[match.end()]
        bounded = all(c == _START or (c != _GAP and not (c.isalnum() or c == "_")) for c in (left, right))
        if bounded and len(match.group()) >= 2:
            words.append(match.group())
    if words:
        return max(words, key=len), None
    pieces = [p for p in re.split("[\x00\x01]", text) if len(p) >= 3]
    return None, max(pieces, key=len) if pieces else None


_LEADING_OPTIONAL = re.compile(r"^\(\?:[^()]*\)\?")
_PLAIN = re.compile(r"^[^\W\d_][\w' -]*$")


def _first_words(fragment: str) -> tuple[set[str], bool] | None:
    """For a fragment opening with ``(?:alt|alt|...)``: the alternatives' first words, and whether
    each is a whole token (then a word-set test gates it, else a substring test); None otherwise."""
    if not fragment.startswith("(?:"):
        return None
    depth, end = 0, -1
    for i, char in enumerate(fragment):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            end = i
            break
    alternatives = fragment[3:end].split("|")
    if end < 0 or not all(_PLAIN.match(a) for a in alternatives):
        return None
    after = fragment[end + 1 : end + 2]
    firsts: set[str] = set()
    whole = True
    for alternative in alternatives:
        word = re.match(r"[^\W_]+", alternative)
        if word is None:
            return None
        firsts.add(word.group())
        if (word.end() == len(alternative) and after not in ("", " ")) or (
            word.end() < len(alternative) and alternative[word.end()] not in " '-"
        ):
            whole = False
    return firsts, whole


class Concept:
    """One concept's fragments, each gated by a word or substring that any match must contain."""

    def __init__(self, fragments: Sequence[str]) -> None:
        self.by_word: dict[str, list[re.Pattern[str]]] = {}
        self.by_substring: list[tuple[str, re.Pattern[str]]] = []
        self.always: list[re.Pattern[str]] = []
        for fragment in fragments:
            # No look-behind at the start: it would disable the engine's first-character scan,
            # which is what makes a search fast; the start is checked on each candidate instead.
            pattern = re.compile(r"(?:" + fragment + r")(?!\w)")
            word, substring = _anchor(fragment)
            if word is not None:
                self.by_word.setdefault(word, []).append(pattern)
                continue
            if substring is not None:
                self.by_substring.append((substring, pattern))
                continue
            # Its presence does not depend on a leading optional group: search without it.
            core = _LEADING_OPTIONAL.sub("", fragment)
            pattern = re.compile(r"(?:" + core + r")(?!\w)")
            firsts = _first_words(core)
            if firsts is not None and firsts[1]:
                for first in firsts[0]:
                    self.by_word.setdefault(first, []).append(pattern)
            elif firsts is not None:
                self.by_substring.extend((first, pattern) for first in firsts[0])
            else:
                self.always.append(pattern)

    def search(self, doc: str, words: frozenset[str] | set[str]) -> re.Match[str] | None:
        """The first match in ``doc`` (lower-cased), given the set of its ``\\w+`` tokens."""
        for word in self.by_word.keys() & words:
            for pattern in self.by_word[word]:
                found = _at_word_start(pattern, doc)
                if found:
                    return found
        for substring, pattern in self.by_substring:
            if substring in doc:
                found = _at_word_start(pattern, doc)
                if found:
                    return found
        for pattern in self.always:
            found = _at_word_start(pattern, doc)
            if found:
                return found
        return None


def _at_word_start(pattern: re.Pattern[str], doc: str) -> re.Match[str] | None:
    for found in pattern.finditer(doc):
        start = found.start()
        if start == 0 or not (doc[start - 1].isalnum() or doc[start - 1] == "_"):
            return found
    return None


def compiled() -> dict[str, Concept]:
    """One gated matcher per concept, all languages together (a message may mix them)."""
    return {
        concept: Concept([f for language in LANGUAGES for f in by_language.get(language, ())])
        for concept, by_language in LEXICONS.items()
    }
